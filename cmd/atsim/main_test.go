//go:build unix

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/drivers/at"
	"github.com/iotd/iotd/drivers/serial"
	"github.com/iotd/iotd/internal/hubtest"
)

// runCLI runs atsim with args until the test ends and returns the path it
// announced.
func runCLI(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	cmd := newRootCmd()
	cmd.SetArgs(args)
	cmd.SetOut(pw)
	cmd.SetErr(io.Discard)
	done := make(chan error, 1)
	go func() {
		done <- cmd.ExecuteContext(ctx)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	line, err := bufio.NewReader(pr).ReadString('\n')
	require.NoError(t, err)
	go io.Copy(io.Discard, pr)
	m := regexp.MustCompile(`^atsim: (\w+) modem on (/dev/\S+)`).FindStringSubmatch(line)
	require.NotNil(t, m, "announcement %q", line)
	return m[2]
}

func engine(t *testing.T, path string, lineEnd string) *at.Engine {
	t.Helper()
	port, err := serial.Open(serial.Config{Name: path})
	require.NoError(t, err)
	e := at.New(port, at.Options{LineEnd: lineEnd, Timeout: 5 * time.Second})
	t.Cleanup(func() { e.Close() })
	return e
}

func TestCLI(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		lineEnd string
		cmd     string
		want    []string
	}{
		{"quectel signal", []string{"--dialect", "quectel", "--signal", "9"}, "\r", "AT+CSQ", []string{"+CSQ: 9,99"}},
		{"quectel signal 0", []string{"--dialect", "quectel", "--signal", "0"}, "\r", "AT+CSQ", []string{"+CSQ: 0,99"}},
		{"simcom denied", []string{"--dialect", "simcom", "--reg", "denied"}, "\r", "AT+CEREG?", []string{"+CEREG: 0,3"}},
		{"ublox pin", []string{"--dialect", "ublox", "--pin", "1111"}, "\r", "AT+CPIN?", []string{"+CPIN: SIM PIN"}},
		{"esp throttled", []string{"--dialect", "esp", "--throttle", "--fault", "fragment,urc"}, "\r\n", "AT+CIPMUX?", []string{"+CIPMUX:0"}},
		{"tencent", []string{"--dialect", "tencent"}, "\r\n", "AT+TCMQTTSTATE?", []string{"+TCMQTTSTATE:0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := engine(t, runCLI(t, tt.args...), tt.lineEnd)
			r, err := e.Do(t.Context(), at.Command{Text: tt.cmd})
			require.NoError(t, err)
			// the boot banner and injected URCs may come with the answer
			assert.Subset(t, r.Lines, tt.want)
		})
	}
}

// The faults of a previous session, from the command line: the module
// holds two sockets and answers ERROR to a line that is no command.
func TestCLISessionFaults(t *testing.T) {
	e := engine(t, runCLI(t, "--dialect", "quectel", "--fault", "stalesockets=2,nonaterror"), "\r")
	r, err := e.Do(t.Context(), at.Command{Text: "AT+QISTATE?"})
	require.NoError(t, err)
	held := 0
	for _, l := range r.Lines { // the boot banner may come with the answer
		if strings.HasPrefix(l, "+QISTATE: ") {
			held++
		}
	}
	assert.Equal(t, 2, held)
	_, err = e.Do(t.Context(), at.Command{Text: "\x1b"})
	assert.ErrorIs(t, err, at.ErrError)
}

func TestCLILink(t *testing.T) {
	link := filepath.Join(t.TempDir(), "ttyMODEM")
	path := runCLI(t, "--dialect", "quectel", "--link", link)
	dst, err := os.Readlink(link)
	require.NoError(t, err)
	assert.Equal(t, path, dst)
	e := engine(t, link, "\r")
	_, err = e.Do(t.Context(), at.Command{Text: "AT"})
	require.NoError(t, err)
}

func TestCLIErrors(t *testing.T) {
	regular := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(regular, nil, 0o600))
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no dialect", nil, "--dialect is required"},
		{"bad dialect", []string{"--dialect", "nokia"}, "unknown dialect"},
		{"bad fault", []string{"--dialect", "esp", "--fault", "meteor"}, "unknown fault"},
		{"bad signal", []string{"--dialect", "esp", "--signal", "40"}, "signal 40"},
		{"bad reg", []string{"--dialect", "esp", "--reg", "maybe"}, "--reg"},
		{"bad host", []string{"--dialect", "esp", "--host", "x"}, "NAME=IP"},
		{"sim flags", []string{"--dialect", "esp", "--no-sim", "--pin", "1"}, "exclude"},
		{"link over a file", []string{"--dialect", "esp", "--link", regular}, "not a symlink"},
		{"tencent broker on esp", []string{"--dialect", "esp", "--tencent-broker", "127.0.0.1:1"}, "for --dialect tencent"},
		{"tencent ca missing", []string{"--dialect", "tencent", "--tencent-ca", regular + ".none"}, "--tencent-ca"},
		{"tencent ca not PEM", []string{"--dialect", "tencent", "--tencent-ca", regular}, "no PEM certificate"},
		{"tencent broker no port", []string{"--dialect", "tencent", "--tencent-broker", "localhost"}, "want host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := newRootCmd()
			cmd.SetArgs(tt.args)
			cmd.SetOut(io.Discard)
			cmd.SetErr(io.Discard)
			err := cmd.ExecuteContext(t.Context())
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestHelp(t *testing.T) {
	var out strings.Builder
	cmd := newRootCmd()
	cmd.SetArgs([]string{"--help"})
	cmd.SetOut(&out)
	require.NoError(t, cmd.Execute())
	for _, s := range []string{"--dialect", "--throttle", "--fault", "--link", "lostprompt", "quectel", "stalesockets", "halftyped"} {
		assert.Contains(t, out.String(), s)
	}
}

func TestCLISignals(t *testing.T) {
	e := engine(t, runCLI(t, "--dialect", "esp"), "\r\n")
	ready := make(chan string, 4)
	require.NoError(t, e.HandleURC(at.URC{Prefix: "ready", Line: func(l string) int { ready <- l; return 0 }}))
	wifi := make(chan string, 4)
	require.NoError(t, e.HandleURC(at.URC{Prefix: "WIFI DISCONNECT", Line: func(l string) int { wifi <- l; return 0 }}))
	_, err := e.Do(t.Context(), at.Command{Text: `AT+CWJAP="a","b"`, Prefix: "-"})
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGUSR2))
	assert.Equal(t, "WIFI DISCONNECT", recv(t, wifi))
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGUSR1))
	assert.Equal(t, "ready", recv(t, ready))
}

func recv(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("nothing arrived")
		return ""
	}
}

// --tencent-broker and --tencent-ca point the tencent module's MQTT
// client at hubsim: the module connects there with the device info set.
func TestCLITencentBroker(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	info, err := hub.CreateDevice("TCCLI00001", "dev1", false)
	require.NoError(t, err)
	e := engine(t, runCLI(t, "--dialect", "tencent", "--tencent-broker", hub.TLSAddr(), "--tencent-ca", hub.CAFile()), "\r\n")
	two := func(text, name string) string {
		t.Helper()
		r, err := e.Do(t.Context(), at.Command{Text: text, Await: func(l string) bool { return strings.HasPrefix(l, name+":") }})
		require.NoError(t, err)
		return r.Result
	}
	_, err = e.Do(t.Context(), at.Command{Text: `AT+CWJAP="lab","pw"`, Timeout: 10 * time.Second})
	require.NoError(t, err)
	assert.Equal(t, "+TCDEVINFOSET:OK", two(fmt.Sprintf(`AT+TCDEVINFOSET=1,"%s","%s","%s"`, info.ProductID, info.DeviceName, info.KeyDeviceInfo.DeviceSecret), "+TCDEVINFOSET"))
	assert.Equal(t, "+TCMQTTCONN:OK", two("AT+TCMQTTCONN=1,5000,240,1,1", "+TCMQTTCONN"))
	require.Eventually(t, func() bool { return hub.Status(info.ProductID, info.DeviceName).Connected }, 10*time.Second, 10*time.Millisecond)
}
