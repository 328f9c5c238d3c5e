package localapi

import (
	"os"
	"runtime"
	"strconv"
	"strings"
)

// DefaultSocket is where the daemon listens and the CLI looks when neither
// the configuration nor --socket says otherwise: $IOTD_SOCKET, else
//
//   - Linux and other Unix: for root /run/iotd/iotd.sock when /run/iotd
//     exists (the package's systemd unit makes it: its daemon, running as
//     user iotd, cannot create a socket in /run), else /run/iotd.sock; else
//     $XDG_RUNTIME_DIR/iotd.sock, else iotd-UID.sock in the temporary
//     directory;
//   - macOS: /var/run/iotd.sock for root, else $XDG_RUNTIME_DIR/iotd.sock
//     when set, else iotd.sock in $TMPDIR (the user's own 0700 directory
//     under /var/folders), else /tmp/iotd-UID.sock;
//   - Windows: %LOCALAPPDATA%\iotd\iotd.sock (the user's profile, whose ACL
//     admits only the user, SYSTEM and Administrators), else the same under
//     %USERPROFILE%\AppData\Local, else iotd.sock in the temporary
//     directory.
//
// The socket is AF_UNIX on every system (Windows 10 1803 and later have
// it); README: Other operating systems.
func DefaultSocket() string {
	return defaultSocket(runtime.GOOS, os.Getenv, os.Geteuid(), os.TempDir(), isDir)
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// packagedRuntimeDir is the runtime directory of the package's unit.
const packagedRuntimeDir = "/run/iotd"

// defaultSocket is DefaultSocket for the system goos, with the
// environment getenv, the effective user id euid (-1 on Windows) and the
// temporary directory tmp (os.TempDir), and isDir to look for the
// package's runtime directory: a pure function, tested for every system on
// any.
func defaultSocket(goos string, getenv func(string) string, euid int, tmp string, isDir func(string) bool) string {
	if s := getenv("IOTD_SOCKET"); s != "" {
		return s
	}
	switch goos {
	case "windows":
		if d := getenv("LOCALAPPDATA"); d != "" {
			return joinPath(goos, d, "iotd", "iotd.sock")
		}
		if d := getenv("USERPROFILE"); d != "" {
			return joinPath(goos, d, "AppData", "Local", "iotd", "iotd.sock")
		}
		return joinPath(goos, tmp, "iotd.sock")
	case "darwin", "ios":
		if euid == 0 {
			return "/var/run/iotd.sock"
		}
		if d := getenv("XDG_RUNTIME_DIR"); d != "" {
			return joinPath(goos, d, "iotd.sock")
		}
		if d := getenv("TMPDIR"); d != "" {
			return joinPath(goos, d, "iotd.sock")
		}
		return "/tmp/iotd-" + strconv.Itoa(euid) + ".sock"
	default:
		if euid == 0 && isDir(packagedRuntimeDir) {
			return packagedRuntimeDir + "/iotd.sock"
		}
		if euid == 0 {
			return "/run/iotd.sock"
		}
		if d := getenv("XDG_RUNTIME_DIR"); d != "" {
			return joinPath(goos, d, "iotd.sock")
		}
		return joinPath(goos, tmp, "iotd-"+strconv.Itoa(euid)+".sock")
	}
}

// joinPath joins elem with goos's separator, as filepath.Join does on
// goos, without doubling one that ends an element.
func joinPath(goos string, elem ...string) string {
	sep := "/"
	if goos == "windows" {
		sep = `\`
	}
	var b strings.Builder
	for i, e := range elem {
		if i > 0 {
			e = strings.TrimLeft(e, `/\`)
			if s := b.String(); s != "" && !strings.HasSuffix(s, "/") && !strings.HasSuffix(s, `\`) {
				b.WriteString(sep)
			}
		}
		b.WriteString(e)
	}
	return b.String()
}
