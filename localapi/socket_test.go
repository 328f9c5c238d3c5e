package localapi

import (
	"strings"
	"testing"
)

func TestDefaultSocketPerOS(t *testing.T) {
	cases := []struct {
		name string
		goos string
		env  map[string]string
		euid int
		tmp  string
		want string
	}{
		{"override wins everywhere", "windows", map[string]string{"IOTD_SOCKET": `D:\s.sock`, "LOCALAPPDATA": `C:\Users\a\AppData\Local`}, -1, `C:\Temp`, `D:\s.sock`},
		{"override on linux", "linux", map[string]string{"IOTD_SOCKET": "/x/y.sock"}, 0, "/tmp", "/x/y.sock"},

		{"linux root", "linux", map[string]string{"XDG_RUNTIME_DIR": "/run/user/0"}, 0, "/tmp", "/run/iotd.sock"},
		{"linux root, the package installed", "linux", nil, 0, "/tmp", "/run/iotd/iotd.sock"},
		{"linux user runtime dir", "linux", map[string]string{"XDG_RUNTIME_DIR": "/run/user/1000"}, 1000, "/tmp", "/run/user/1000/iotd.sock"},
		{"linux user no runtime dir", "linux", nil, 1000, "/tmp", "/tmp/iotd-1000.sock"},
		{"freebsd like linux", "freebsd", nil, 1001, "/var/tmp/", "/var/tmp/iotd-1001.sock"},

		{"darwin root", "darwin", map[string]string{"TMPDIR": "/var/folders/ab/cd/T/"}, 0, "/var/folders/ab/cd/T/", "/var/run/iotd.sock"},
		{"darwin user TMPDIR", "darwin", map[string]string{"TMPDIR": "/var/folders/ab/cd/T/"}, 501, "/var/folders/ab/cd/T/", "/var/folders/ab/cd/T/iotd.sock"},
		{"darwin user runtime dir", "darwin", map[string]string{"XDG_RUNTIME_DIR": "/Users/a/run", "TMPDIR": "/var/folders/ab/cd/T/"}, 501, "/tmp", "/Users/a/run/iotd.sock"},
		{"darwin no TMPDIR", "darwin", nil, 501, "/tmp", "/tmp/iotd-501.sock"},

		{"windows LOCALAPPDATA", "windows", map[string]string{"LOCALAPPDATA": `C:\Users\a\AppData\Local`, "USERPROFILE": `C:\Users\a`}, -1, `C:\Users\a\AppData\Local\Temp`, `C:\Users\a\AppData\Local\iotd\iotd.sock`},
		{"windows LOCALAPPDATA trailing separator", "windows", map[string]string{"LOCALAPPDATA": `C:\Users\a\AppData\Local\`}, -1, `C:\Temp`, `C:\Users\a\AppData\Local\iotd\iotd.sock`},
		{"windows USERPROFILE", "windows", map[string]string{"USERPROFILE": `C:\Users\a`}, -1, `C:\Temp`, `C:\Users\a\AppData\Local\iotd\iotd.sock`},
		{"windows temp", "windows", nil, -1, `C:\Users\a\AppData\Local\Temp`, `C:\Users\a\AppData\Local\Temp\iotd.sock`},
		{"windows ignores XDG and root", "windows", map[string]string{"XDG_RUNTIME_DIR": "/run/user/0", "LOCALAPPDATA": `C:\L`}, 0, `C:\Temp`, `C:\L\iotd\iotd.sock`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			packaged := func(dir string) bool { return strings.HasSuffix(c.name, "the package installed") && dir == "/run/iotd" }
			got := defaultSocket(c.goos, func(k string) string { return c.env[k] }, c.euid, c.tmp, packaged)
			if got != c.want {
				t.Errorf("defaultSocket(%s) = %q, want %q", c.goos, got, c.want)
			}
		})
	}
}
