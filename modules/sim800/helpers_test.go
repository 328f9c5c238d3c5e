package sim800_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/conformance/peer"
	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/at/atsim"
	"github.com/iotd/iotd/drivers/at/modem"
	"github.com/iotd/iotd/modules/sim800"
)

// guard bounds every wait of a test so that a bug hangs nothing; it is not
// a measurement.
const guard = 10 * time.Second

// password is the APN password of every test config; no log or error may
// show it.
const password = "apn-s3cret-7q"

// testLogger sends the modem's debug log to the test's output when
// IOTD_AT_DEBUG is set.
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("IOTD_AT_DEBUG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startSim starts a simulated SIM800 and stops it when the test ends. A
// real UART's pace (Baud 115200) makes the module's answer to a stray
// line come after the next command is on its way, as with a real module.
func startSim(t testing.TB, cfg atsim.Config) *atsim.Modem {
	t.Helper()
	cfg.Dialect = atsim.DialectSIM800
	sim, err := atsim.Start(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = sim.Close() })
	return sim
}

// config is the driver config for sim's port.
func config(sim *atsim.Modem) modem.Config {
	return modem.Config{Port: sim.Path(), APN: "internet", User: "iot", Password: password,
		RegistrationTimeout: modem.Duration(guard)}
}

// configJSON is config as the driver takes it.
func configJSON(t testing.TB, sim *atsim.Modem) []byte {
	t.Helper()
	b, err := json.Marshal(config(sim))
	require.NoError(t, err)
	return b
}

// openModem brings a modem of dialect up on sim.
func openModem(t testing.TB, dialect string, sim *atsim.Modem, log *slog.Logger) *modem.Modem {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 6*guard)
	defer cancel()
	m, err := modem.OpenModem(ctx, dialect, config(sim), log)
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// firstDial opens a fresh at.sim800 driver on sim and dials the peer at
// addr once, as a link's first attempt after iotd started does.
func firstDial(t testing.TB, sim *atsim.Modem, addr string) (driver.Conn, error) {
	t.Helper()
	drv, err := modem.NewDriver(sim800.Name)
	require.NoError(t, err)
	drv.Logger = testLogger(t)
	dl, err := drv.Open(configJSON(t, sim))
	require.NoError(t, err)
	t.Cleanup(func() { _ = dl.(io.Closer).Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 6*guard)
	defer cancel()
	c, err := dl.Dial(ctx, driver.Stream, addr)
	if err == nil {
		t.Cleanup(func() { _ = c.Close() })
		echoConn(t, c)
	}
	return c, err
}

// dial opens a stream socket through m to the peer at addr, which
// echoes.
func dial(t testing.TB, m *modem.Modem, addr string) driver.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*guard)
	defer cancel()
	c, err := m.Dial(ctx, driver.Stream, addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	echoConn(t, c)
	return c
}

// opens counts the AT+CIPSTART set commands sim received.
func opens(sim *atsim.Modem) int {
	n := 0
	for _, c := range sim.Commands() {
		if strings.HasPrefix(c, "AT+CIPSTART=") {
			n++
		}
	}
	return n
}

// newPeer starts the conformance suite's reference stream peer: a
// connection's first line picks what it does (echoConn sends ECHO).
func newPeer(t testing.TB) *peer.Stream {
	t.Helper()
	p, err := peer.NewStream(nil, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// echoConn makes the peer echo what c sends from now on.
func echoConn(t testing.TB, c net.Conn) {
	t.Helper()
	_, err := c.Write(peer.Command{Op: peer.OpEcho}.Line())
	require.NoError(t, err)
}

// roundTrip writes msg and reads it back through the echo peer.
func roundTrip(t testing.TB, c net.Conn, msg []byte) {
	t.Helper()
	require.NoError(t, c.SetDeadline(time.Now().Add(6*guard)))
	errc := make(chan error, 1)
	go func() { _, err := c.Write(msg); errc <- err }()
	got := make([]byte, len(msg))
	_, err := io.ReadFull(c, got)
	require.NoError(t, err)
	require.NoError(t, <-errc)
	require.True(t, bytes.Equal(msg, got), "the echo differs")
	require.NoError(t, c.SetDeadline(time.Time{}))
}

// allBytes is every byte value n times over, CR, LF, ">" and Ctrl-Z
// among them: what a text-mode send would mangle.
func allBytes(n int) []byte {
	b := make([]byte, 0, 256*n)
	for range n {
		for v := range 256 {
			b = append(b, byte(v))
		}
	}
	return b
}
