package iotdcli

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/daemon"
	"github.com/iotd/iotd/drivers/at/atsim"
	_ "github.com/iotd/iotd/drivers/at/builtin" // every dialect
	"github.com/iotd/iotd/drivers/at/modem"
	"github.com/iotd/iotd/drivers/posix"
	"github.com/iotd/iotd/localapi"
)

// syncBuf is a bytes.Buffer a command writes while the test reads it.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runCLI runs one iotd command line in this process.
func runCLI(ctx context.Context, out *syncBuf, args ...string) error {
	root := newRoot()
	root.SetOut(out)
	root.SetErr(out)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

// daemonOverModem runs iotd with its link as TLS over an atsim modem of
// dialect to hubsim, and returns the socket once the link is up.
func daemonOverModem(t *testing.T, dialect, settings string) (sock string, sim *atsim.Modem) {
	t.Helper()
	hub := startHub(t)
	sim, err := atsim.Start(context.Background(), atsim.Config{Dialect: dialect})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sim.Close() })
	_, err = hub.CreateDevice("PCLIAT0001", "modem1", false)
	require.NoError(t, err)
	dir := t.TempDir()
	_, err = hub.WriteDeviceInfo("PCLIAT0001", "modem1", dir)
	require.NoError(t, err)
	sock = filepath.Join(dir, "iotd.sock")
	y := fmt.Sprintf(`device_info: device_info.json
socket: %s
drivers:
  at.%s: {port: %s, %s}
link:
  driver: tls
  endpoint: %s
  backoff: {initial: 50ms, max: 500ms}
  driver_config: {ca_file: %s, over: at.%s}
`, sock, dialect, sim.Path(), settings, hub.TLSAddr(), hub.CAFile(), dialect)
	runDaemon(t, filepath.Join(dir, "iotd.yaml"), y)
	return sock, sim
}

// startDaemonAt runs iotd with the configuration at path (tcp, tls and
// the AT drivers registered) until the test ends, and returns its socket.
func startDaemonAt(t *testing.T, path string) string {
	t.Helper()
	cfg, err := daemon.LoadConfig(path)
	require.NoError(t, err)
	reg := core.NewRegistry()
	require.NoError(t, reg.Register(posix.NewTCP()))
	require.NoError(t, reg.Register(posix.NewTLSIn(reg)))
	require.NoError(t, modem.RegisterDrivers(reg))
	d, err := daemon.New(cfg, reg, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})
	<-d.Ready()
	return cfg.Socket
}

// runDaemon writes the configuration y to path, runs iotd with it (tcp,
// tls and the AT drivers registered) until the test ends, and waits for
// its link to connect.
func runDaemon(t *testing.T, path, y string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(y), 0o600))
	client := localapi.New(startDaemonAt(t, path))
	require.Eventually(t, func() bool {
		st, err := client.Status(context.Background())
		return err == nil && st.Link.State == "connected"
	}, 30*time.Second, 50*time.Millisecond, "the link")
}

// `iotd at trace` and `iotd at send AT+CSQ` against a running daemon whose
// link runs over a modem; `iotd status` and `iotd drivers` show the modem.
func TestATCommandsAgainstTheDaemon(t *testing.T) {
	sock, sim := daemonOverModem(t, "ublox", "apn: cmnet")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var trace syncBuf
	tctx, tcancel := context.WithCancel(ctx)
	traced := make(chan error, 1)
	go func() { traced <- runCLI(tctx, &trace, "--socket", sock, "at", "trace") }()

	var out syncBuf
	require.Eventually(t, func() bool {
		out = syncBuf{}
		require.NoError(t, runCLI(ctx, &out, "--socket", sock, "at", "send", "AT+CSQ"))
		return strings.Contains(trace.String(), "→ AT+CSQ")
	}, 10*time.Second, 50*time.Millisecond, "the trace shows the command")
	assert.Equal(t, "+CSQ: 20,99\nOK\n", out.String())
	// Its answer follows, maybe after a socket's URC. (An "← OK" of an
	// earlier command is no sign that it has been traced yet.)
	line := regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d\.\d{3} → AT\+CSQ\n(.*\n)*?\d\d:\d\d:\d\d\.\d{3} ← \+CSQ: 20,99$`)
	require.Eventually(t, func() bool { return line.MatchString(trace.String()) }, 5*time.Second, 20*time.Millisecond,
		"the trace shows the answer after the command:\n%s", &trace)
	tcancel()
	require.NoError(t, <-traced)
	t.Logf("iotd at trace:\n%s", trace.String())

	// A failing command exits non-zero, with the module's answer shown.
	out = syncBuf{}
	err := runCLI(ctx, &out, "--socket", sock, "at", "send", "AT+NOSUCH")
	require.Error(t, err)
	assert.Contains(t, out.String(), "+CME ERROR: 4\n")
	out = syncBuf{}
	err = runCLI(ctx, &out, "--socket", sock, "at", "send", "AT+USOWR=0,5")
	assert.ErrorContains(t, err, "data prompt")

	out = syncBuf{}
	require.NoError(t, runCLI(ctx, &out, "--socket", sock, "status"))
	st := out.String()
	t.Logf("iotd status:\n%s", st)
	assert.Contains(t, st, "modem          at.ublox on "+sim.Path()+", up\n")
	assert.Contains(t, st, "  module       SARA-R410M-02B L0.0.00.00.05.12 [Mar 09 2022 17:00:00], IMEI 352753090000001, ICCID 89860012345678901236\n")
	assert.Regexp(t, `  network      home "iotd sim", LTE \(read \d+s ago\)\n`, st)
	assert.Regexp(t, `  signal       RSSI -73 dBm, RSRP -95 dBm, RSRQ -10.0 dB \(read \d+s ago\)\n`, st)

	out = syncBuf{}
	require.NoError(t, runCLI(ctx, &out, "--socket", sock, "drivers"))
	assert.Regexp(t, `\nmodem +at.ublox on `+regexp.QuoteMeta(sim.Path())+`, up\n`, out.String())
}

func TestPrintModemsWiFi(t *testing.T) {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	now := time.Now()
	printModems(tw, []localapi.ModemStatus{{Driver: "at.esp", Port: "/dev/ttyUSB0", Up: false, Model: "ESP-AT", Firmware: "2.2.0.0",
		SSID: "lab", Technology: "Wi-Fi", Registration: "joined", RSSI: -50, NetworkAt: now, SignalAt: now, Error: "at: AT+CWJAP: at: timeout"}})
	tw.Flush()
	assert.Equal(t, `modem          at.esp on /dev/ttyUSB0, not up
  module       ESP-AT 2.2.0.0
  network      joined "lab", Wi-Fi (read 0s ago)
  signal       RSSI -50 dBm (read 0s ago)
  modem error  at: AT+CWJAP: at: timeout
`, b.String())
}
