package modem_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/at"
	"github.com/iotd/iotd/drivers/at/atsim"
	"github.com/iotd/iotd/drivers/at/esp"
	"github.com/iotd/iotd/drivers/at/modem"
	"github.com/iotd/iotd/drivers/at/quectel"
	"github.com/iotd/iotd/drivers/at/simcom"
	"github.com/iotd/iotd/drivers/at/ublox"
)

// dialects are the dialects tested against atsim. A dialect is listed once
// atsim serves it.
var dialects = []string{quectel.Name, esp.Name, simcom.Name, ublox.Name}

// variants run every data test unfragmented and with atsim cutting its
// output into 1..8-byte fragments.
var variants = []struct {
	name   string
	faults []atsim.Fault
}{
	{"whole", nil},
	{"fragmented", []atsim.Fault{{Kind: atsim.Fragment}}},
}

// eachDialect runs f for every dialect and variant against a fresh sim.
func eachDialect(t *testing.T, f func(t *testing.T, dialect string, sim *atsim.Modem, m *modem.Modem)) {
	for _, d := range dialects {
		for _, v := range variants {
			t.Run(d+"/"+v.name, func(t *testing.T) {
				// Fragmented output is slow (paused pieces), not busy.
				t.Parallel()
				sim := startSim(t, atsim.Config{Dialect: d, Faults: v.faults, Seed: 1})
				m, err := openModem(t, d, sim, modem.Config{APN: "internet"})
				require.NoError(t, err)
				f(t, d, sim, m)
			})
		}
	}
}

func dial(t *testing.T, m *modem.Modem, addr string) driver.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	c, err := m.Dial(ctx, driver.Stream, addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func pattern(n, seed int) []byte {
	b := make([]byte, n)
	x := uint32(seed*2654435761 + 1)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

func TestBringUpFromPowerOn(t *testing.T) {
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			// atsim powers on with echo on and prints its boot banner.
			sim := startSim(t, atsim.Config{Dialect: d})
			m, err := openModem(t, d, sim, modem.Config{APN: "internet"})
			require.NoError(t, err)
			info := m.Info()
			assert.Equal(t, d, info.Dialect)
			assert.NotEmpty(t, info.Model)
			sig, err := m.Signal(context.Background())
			require.NoError(t, err)
			assert.Less(t, sig.RSSI, 0)
			assert.GreaterOrEqual(t, sig.Quality, 0)
		})
	}
}

func TestAutoDetect(t *testing.T) {
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			sim := startSim(t, atsim.Config{Dialect: d})
			m, err := openModem(t, modem.Auto, sim, modem.Config{APN: "internet"})
			require.NoError(t, err)
			assert.Equal(t, d, m.Info().Dialect)
		})
	}
}

func TestBringUpErrors(t *testing.T) {
	for _, d := range dialects {
		if d == esp.Name {
			continue
		}
		for _, tc := range []struct {
			name   string
			sim    atsim.Config
			cfg    modem.Config
			kind   error
			denied bool
		}{
			{name: "no SIM", sim: atsim.Config{SIM: atsim.SIMAbsent}, kind: modem.ErrNoSIM},
			{name: "SIM PIN, none configured", sim: atsim.Config{SIM: atsim.SIMPIN}, kind: modem.ErrSIMLocked},
			{name: "SIM PIN, wrong one", sim: atsim.Config{SIM: atsim.SIMPIN}, cfg: modem.Config{PIN: "0000"}, kind: modem.ErrSIMLocked},
			{name: "SIM PIN, right one", sim: atsim.Config{SIM: atsim.SIMPIN}, cfg: modem.Config{PIN: atsim.DefaultPIN}},
			{name: "searching", sim: atsim.Config{Reg: atsim.RegSearching}, kind: modem.ErrNotRegistered},
			{name: "denied", sim: atsim.Config{Reg: atsim.RegDenied}, kind: modem.ErrNotRegistered, denied: true},
			{name: "roaming is registered", sim: atsim.Config{Reg: atsim.RegRoaming}},
			{name: "no signal", sim: atsim.Config{Reg: atsim.RegSearching, Signal: 99}, kind: modem.ErrNoSignal},
		} {
			t.Run(d+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				tc.sim.Dialect = d
				sim := startSim(t, tc.sim)
				tc.cfg.RegistrationTimeout = modem.Duration(time.Second)
				_, err := openModem(t, d, sim, tc.cfg)
				if tc.kind == nil {
					require.NoError(t, err)
					return
				}
				require.Error(t, err)
				assert.ErrorIs(t, err, tc.kind)
				var se *modem.SetupError
				require.ErrorAs(t, err, &se)
				assert.Equal(t, tc.denied, se.Denied)
				assert.Contains(t, err.Error(), ":", "the message names the cause and the fix")
				assert.NotContains(t, err.Error(), "0000", "a PIN never appears in an error")
			})
		}
	}
}

// Dial on a modem that is not registered fails as ErrUnreachable.
func TestDialNotRegistered(t *testing.T) {
	for _, d := range dialects {
		if d == esp.Name {
			continue
		}
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			sim := startSim(t, atsim.Config{Dialect: d, Reg: atsim.RegSearching})
			port, err := openPort(sim)
			require.NoError(t, err)
			m, err := modem.NewModem(context.Background(), port, d, modem.Config{RegistrationTimeout: modem.Duration(time.Second)}, testLogger(t))
			require.NoError(t, err)
			defer m.Close()
			_, err = m.Dial(context.Background(), driver.Stream, "127.0.0.1:1")
			assert.ErrorIs(t, err, driver.ErrUnreachable)
			assert.ErrorIs(t, err, modem.ErrNotRegistered)
		})
	}
}

func TestEchoAllByteValues(t *testing.T) {
	eachDialect(t, func(t *testing.T, _ string, _ *atsim.Modem, m *modem.Modem) {
		echo := newEchoServer(t)
		c := dial(t, m, echo.addr())
		all := make([]byte, 256)
		for i := range all {
			all[i] = byte(i)
		}
		roundTrip(t, c, all)
		// The bytes that framers trip over, alone and together.
		roundTrip(t, c, []byte("\r\nOK\r\n"))
		roundTrip(t, c, []byte("\r\nERROR\r\n+QIURC: \"closed\",0\r\n> @\"\x00\x1a"))
		roundTrip(t, c, []byte{'>'})
	})
}

func TestTransfer64KiB(t *testing.T) {
	eachDialect(t, func(t *testing.T, _ string, _ *atsim.Modem, m *modem.Modem) {
		echo := newEchoServer(t)
		c := dial(t, m, echo.addr())
		n := 64 << 10
		if fragmented(t) {
			// atsim's fragments (1..8 bytes, paused) carry a few KB/s.
			n = 16 << 10
		}
		roundTrip(t, c, pattern(n, 3))
	})
}

func fragmented(t *testing.T) bool { return strings.HasSuffix(t.Name(), "/fragmented") }

func TestTwoSocketsAtOnce(t *testing.T) {
	eachDialect(t, func(t *testing.T, _ string, _ *atsim.Modem, m *modem.Modem) {
		echo := newEchoServer(t)
		a, b := dial(t, m, echo.addr()), dial(t, m, echo.addr())
		assert.NotEqual(t, a.LocalAddr().String(), b.LocalAddr().String())
		done := make(chan struct{})
		go func() {
			defer close(done)
			roundTrip(t, a, pattern(12<<10, 1))
		}()
		roundTrip(t, b, pattern(12<<10, 2))
		<-done
	})
}

func TestRemoteCloseIsEOF(t *testing.T) {
	eachDialect(t, func(t *testing.T, _ string, _ *atsim.Modem, m *modem.Modem) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		want := pattern(5000, 9)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write(want)
			c.Close()
		}()
		c := dial(t, m, ln.Addr().String())
		require.NoError(t, c.SetReadDeadline(time.Now().Add(guard)))
		got, err := io.ReadAll(c)
		require.NoError(t, err, "all data, then io.EOF")
		assert.Equal(t, want, got)
		_, err = c.Read(make([]byte, 1))
		assert.Equal(t, io.EOF, err)
		_, err = c.Write([]byte("x"))
		assert.Error(t, err, "writing to a closed connection")
	})
}

func TestRebootMidTransfer(t *testing.T) {
	eachDialect(t, func(t *testing.T, _ string, sim *atsim.Modem, m *modem.Modem) {
		echo := newEchoServer(t)
		c := dial(t, m, echo.addr())
		roundTrip(t, c, []byte("before"))
		errc := make(chan error, 1)
		go func() {
			_, err := io.Copy(io.Discard, c)
			errc <- err
		}()
		go func() {
			for {
				if _, err := c.Write(pattern(4096, 1)); err != nil {
					return
				}
			}
		}()
		time.Sleep(50 * time.Millisecond) // let the transfer run; the outcome does not depend on it
		sim.Reboot()
		var err error
		select {
		case err = <-errc:
		case <-time.After(guard):
			t.Fatal("Read did not fail after the reboot")
		}
		require.Error(t, err)
		assert.ErrorIs(t, err, driver.ErrBadConn)
		var re *modem.RebootError
		assert.ErrorAs(t, err, &re)
		_, err = c.Write([]byte("x"))
		assert.ErrorIs(t, err, driver.ErrBadConn, "every later call fails the same way")

		c2 := dial(t, m, echo.addr())
		roundTrip(t, c2, []byte("after the reboot"))
	})
}

func TestStallThenRecovery(t *testing.T) {
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			sim := startSim(t, atsim.Config{Dialect: d})
			m, err := openModem(t, d, sim, modem.Config{APN: "internet", CommandTimeout: modem.Duration(time.Second)})
			require.NoError(t, err)
			echo := newEchoServer(t)
			c := dial(t, m, echo.addr())
			roundTrip(t, c, []byte("before"))
			// Drain what the module may still announce, so that no
			// receive is under way when the stall begins.
			require.NoError(t, c.SetReadDeadline(time.Now().Add(200*time.Millisecond)))
			_, err = c.Read(make([]byte, 10))
			require.True(t, isTimeout(err), "nothing more to read: %v", err)
			// The stall outlasts the Read below (its deadline) and the
			// swallowed Write's 1 s timeout, with room for a loaded
			// machine, and ends within the resync's five 1 s tries that
			// the next command starts with.
			require.NoError(t, sim.Inject(atsim.Fault{Kind: atsim.Stall, Duration: 4 * time.Second}))
			require.NoError(t, c.SetReadDeadline(time.Now().Add(300*time.Millisecond)))
			_, err = c.Read(make([]byte, 10))
			assert.True(t, isTimeout(err), "Read during a stall times out at its deadline: %v", err)
			require.NoError(t, c.SetReadDeadline(time.Time{}))
			// A command the stalled module swallows times out; the line
			// is then resynchronised (the resync exchange, tried until
			// the module answers) and works again.
			_, err = c.Write([]byte("swallowed"))
			require.Error(t, err)
			assert.ErrorIs(t, err, at.ErrTimeout)
			c2 := dial(t, m, echo.addr())
			roundTrip(t, c2, []byte("after the stall"))
		})
	}
}

func TestGarbageAndURCsInResponses(t *testing.T) {
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			sim := startSim(t, atsim.Config{Dialect: d, Seed: 7, Faults: []atsim.Fault{
				{Kind: atsim.Garbage}, {Kind: atsim.URCInResponse}, {Kind: atsim.Fragment},
			}})
			m, err := openModem(t, d, sim, modem.Config{APN: "internet"})
			require.NoError(t, err)
			echo := newEchoServer(t)
			a, b := dial(t, m, echo.addr()), dial(t, m, echo.addr())
			roundTrip(t, a, pattern(8<<10, 5))
			roundTrip(t, b, pattern(3<<10, 6))
		})
	}
}

func TestLostPrompt(t *testing.T) {
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			sim := startSim(t, atsim.Config{Dialect: d})
			m, err := openModem(t, d, sim, modem.Config{APN: "internet", CommandTimeout: modem.Duration(time.Second)})
			require.NoError(t, err)
			echo := newEchoServer(t)
			c := dial(t, m, echo.addr())
			require.NoError(t, sim.Inject(atsim.Fault{Kind: atsim.LostPrompt}))
			n, err := c.Write([]byte("never sent"))
			require.Error(t, err)
			assert.Equal(t, 0, n)
			assert.ErrorIs(t, err, at.ErrTimeout)
			assert.Contains(t, err.Error(), "prompt")
			// The line is in step again: the same socket works.
			roundTrip(t, c, []byte("sent"))
		})
	}
}

func TestPortGoneIsBadConn(t *testing.T) {
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			sim := startSim(t, atsim.Config{Dialect: d})
			m, err := openModem(t, d, sim, modem.Config{APN: "internet"})
			require.NoError(t, err)
			echo := newEchoServer(t)
			c := dial(t, m, echo.addr())
			errc := make(chan error, 1)
			go func() { _, err := c.Read(make([]byte, 10)); errc <- err }()
			require.NoError(t, sim.Close())
			select {
			case err = <-errc:
			case <-time.After(guard):
				t.Fatal("Read did not fail after the port went away")
			}
			assert.ErrorIs(t, err, driver.ErrBadConn)
			_, err = m.Dial(context.Background(), driver.Stream, echo.addr())
			assert.ErrorIs(t, err, driver.ErrBadConn)
		})
	}
}

func TestDialErrors(t *testing.T) {
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			sim := startSim(t, atsim.Config{Dialect: d, Hosts: map[string]string{"known.test": "127.0.0.1"}})
			m, err := openModem(t, d, sim, modem.Config{APN: "internet"})
			require.NoError(t, err)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			closed := ln.Addr().String()
			ln.Close()
			ctx := context.Background()
			_, err = m.Dial(ctx, driver.Stream, closed)
			assert.ErrorIs(t, err, driver.ErrRefused)
			_, err = m.Dial(ctx, driver.Stream, "no-such-host.invalid:80")
			assert.ErrorIs(t, err, driver.ErrUnreachable)
			_, err = m.Dial(ctx, "carrier-pigeon", closed)
			assert.ErrorIs(t, err, driver.ErrNotSupported)
			// A failed dial leaves no socket behind: all ids are free.
			echo := newEchoServer(t)
			var conns []driver.Conn
			for range 3 {
				conns = append(conns, dial(t, m, echo.addr()))
			}
			for _, c := range conns {
				require.NoError(t, c.Close())
			}
			assert.Empty(t, sim.OpenSockets(), "Close frees the module's sockets")
		})
	}
}

func TestCloseSemantics(t *testing.T) {
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			sim := startSim(t, atsim.Config{Dialect: d})
			m, err := openModem(t, d, sim, modem.Config{APN: "internet"})
			require.NoError(t, err)
			echo := newEchoServer(t)
			c := dial(t, m, echo.addr())
			errc := make(chan error, 1)
			go func() { _, err := c.Read(make([]byte, 1)); errc <- err }()
			require.NoError(t, c.Close())
			select {
			case err = <-errc:
				assert.ErrorIs(t, err, net.ErrClosed)
			case <-time.After(guard):
				t.Fatal("Close did not unblock Read")
			}
			_, err = c.Write([]byte("x"))
			assert.ErrorIs(t, err, net.ErrClosed)
			assert.True(t, errors.Is(c.Close(), net.ErrClosed) || c.Close() == nil)
		})
	}
}
