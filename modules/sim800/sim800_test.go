package sim800_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/conformance/peer"
	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/at"
	"github.com/iotd/iotd/drivers/at/atsim"
	_ "github.com/iotd/iotd/drivers/at/builtin" // the simcom dialect, which must not win detection
	"github.com/iotd/iotd/drivers/at/modem"
	"github.com/iotd/iotd/drivers/at/simcom"
	"github.com/iotd/iotd/internal/testlog"
	"github.com/iotd/iotd/modules/sim800"
)

// From power-on (echo on, RDY) to a socket: the SIM800's bring-up order
// (AT+CIPSHUT, CIPMUX, CIPRXGET, CSTT, CIICR, CIFSR) and an echo of every
// byte value, in chunks of the module's 1460-byte send limit, whole and
// in 1..8-byte fragments.
func TestBringUpAndBinaryEcho(t *testing.T) {
	for _, v := range []struct {
		name   string
		faults []atsim.Fault
	}{{"whole", nil}, {"fragmented", []atsim.Fault{{Kind: atsim.Fragment}}}} {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			sim := startSim(t, atsim.Config{Faults: v.faults, Seed: 1})
			m := openModem(t, sim800.Name, sim, testLogger(t))
			info := m.Info()
			assert.Equal(t, sim800.Name, info.Dialect)
			assert.Equal(t, "SIMCOM_SIM800L", info.Model)
			sig, err := m.Signal(context.Background())
			require.NoError(t, err)
			assert.Less(t, sig.RSSI, 0)

			var order []string
			for _, c := range sim.Commands() {
				for _, want := range []string{"AT+CIPSHUT", "AT+CIPMUX=1", "AT+CIPRXGET=1", "AT+CSTT=", "AT+CIICR", "AT+CIFSR"} {
					if len(c) >= len(want) && c[:len(want)] == want {
						order = append(order, want)
					}
				}
			}
			assert.Equal(t, []string{"AT+CIPSHUT", "AT+CIPMUX=1", "AT+CIPRXGET=1", "AT+CSTT=", "AT+CIICR", "AT+CIFSR"}, order)

			echo := newPeer(t)
			c := dial(t, m, echo.Addr())
			roundTrip(t, c, []byte("hello\r\nOK\r\n> 0, CLOSED\r\n"))
			roundTrip(t, c, allBytes(16)) // 4 KiB: three sends, several reads
			assert.Equal(t, []int{0}, sim.OpenSockets())
			require.NoError(t, c.Close())
			assert.Empty(t, sim.OpenSockets(), "AT+CIPCLOSE freed the number")
		})
	}
}

// Two sockets at once keep their data apart (connection numbers 0 and 1).
func TestTwoSockets(t *testing.T) {
	sim := startSim(t, atsim.Config{})
	m := openModem(t, sim800.Name, sim, testLogger(t))
	echo := newPeer(t)
	a, b := dial(t, m, echo.Addr()), dial(t, m, echo.Addr())
	var wg sync.WaitGroup
	for i, c := range []net.Conn{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			roundTrip(t, c, bytes.Repeat([]byte{byte('a' + i)}, 3000))
		}()
	}
	wg.Wait()
	assert.ElementsMatch(t, []int{0, 1}, sim.OpenSockets())
}

// The "at" driver reads ATI ("SIM800 R14.18"), AT+GMR and AT+CGMI
// ("SIMCOM_Ltd"): the vendor's name is simcom's word too, and the longer
// SIM800 words win.
func TestAutoDetectPicksSIM800(t *testing.T) {
	require.Contains(t, modem.Dialects(), simcom.Name)
	sim := startSim(t, atsim.Config{})
	m := openModem(t, modem.Auto, sim, testLogger(t))
	assert.Equal(t, sim800.Name, m.Info().Dialect)
}

// A peer's close is "<n>, CLOSED": what the peer sent before it is still
// read (AT+CIPRXGET=2 after the close), then io.EOF.
func TestRemoteCloseIsEOF(t *testing.T) {
	sim := startSim(t, atsim.Config{})
	m := openModem(t, sim800.Name, sim, testLogger(t))
	c, err := m.Dial(context.Background(), driver.Stream, newPeer(t).Addr())
	require.NoError(t, err)
	defer c.Close()
	const n = 5000
	_, err = c.Write(peer.Command{Op: peer.OpChargen, N: n}.Line())
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(3*guard)))
	got, err := io.ReadAll(c)
	require.NoError(t, err, "io.ReadAll stops at io.EOF")
	require.Len(t, got, n)
	for i, b := range got {
		require.Equal(t, peer.Pattern(i), b, "byte %d", i)
	}
}

// A closed port is driver.ErrRefused; a name the module cannot resolve is
// driver.ErrUnreachable although the module says "CONNECT FAIL" to both.
func TestDialErrors(t *testing.T) {
	sim := startSim(t, atsim.Config{})
	m := openModem(t, sim800.Name, sim, testLogger(t))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := ln.Addr().String()
	require.NoError(t, ln.Close())

	_, err = m.Dial(context.Background(), driver.Stream, closed)
	require.ErrorIs(t, err, driver.ErrRefused)
	_, err = m.Dial(context.Background(), driver.Stream, "no-such-host.invalid:80")
	require.ErrorIs(t, err, driver.ErrUnreachable)
	assert.Empty(t, sim.OpenSockets(), "failed opens hold no number")
}

// The APN password (an argument of AT+CSTT) appears in no log line, even
// at debug level with the AT trace on.
func TestPasswordNeverLogged(t *testing.T) {
	var buf testlog.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sim := startSim(t, atsim.Config{Faults: []atsim.Fault{{Kind: atsim.Garbage}, {Kind: atsim.URCInResponse}}})
	cfg := config(sim)
	cfg.Trace = true // every line crossing the port, in the log
	ctx, cancel := context.WithTimeout(context.Background(), 6*guard)
	defer cancel()
	m, err := modem.OpenModem(ctx, sim800.Name, cfg, log)
	require.NoError(t, err)
	defer m.Close()
	roundTrip(t, dial(t, m, newPeer(t).Addr()), []byte("x"))
	sim.Reboot()
	c, err := m.Dial(context.Background(), driver.Stream, newPeer(t).Addr())
	if err == nil {
		_ = c.Close()
	}
	assert.NotContains(t, buf.String(), password)
	assert.Contains(t, buf.String(), "AT+CSTT", "the trace names the command")
	assert.Contains(t, buf.String(), "at: modem up", "the modem logged at debug level")
}

// A send on a connection the module no longer has is driver.ErrReset
// (AT+CIPSEND answers ERROR), not a hang.
func TestSendAfterSilentClose(t *testing.T) {
	sim := startSim(t, atsim.Config{})
	m := openModem(t, sim800.Name, sim, testLogger(t))
	c := dial(t, m, newPeer(t).Addr())
	_, err := m.Engine().Do(context.Background(), at.Command{Text: "AT+CIPCLOSE=0", Prefix: "-"})
	require.NoError(t, err)
	_, err = c.Write([]byte("into the void"))
	require.Error(t, err)
	assert.True(t, errors.Is(err, driver.ErrReset), "got %v", err)
}
