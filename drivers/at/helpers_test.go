package at_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/drivers/at"
	"github.com/iotd/iotd/drivers/serial"
	"github.com/iotd/iotd/drivers/serial/serialtest"
)

// guard bounds every wait of a test so that a bug hangs nothing; it is not
// a measurement.
const guard = 10 * time.Second

// modem is the test's side of the pty.
type modem struct {
	t *testing.T
	*serialtest.Pair
}

// expect reads one command line and requires it to be want.
func (m modem) expect(want string) {
	m.t.Helper()
	got, err := m.ReadCommand(guard)
	require.NoError(m.t, err)
	require.Equal(m.t, want, got)
}

func (m modem) send(s string) {
	m.t.Helper()
	require.NoError(m.t, m.Send(s))
}

// resync plays the module's side of the engine's resync exchange with echo
// off before it: ATE1 is answered OK (no echo yet), the sentinel is echoed
// and answered ERROR (no module knows it). It returns the sentinel line.
func (m modem) resync() string {
	m.t.Helper()
	m.expect("ATE1")
	m.send("\r\nOK\r\n")
	sentinel, err := m.ReadCommand(guard)
	require.NoError(m.t, err)
	require.True(m.t, strings.HasPrefix(sentinel, "AT+IOTDSYNC="), "sentinel %q", sentinel)
	m.send(sentinel + "\r\r\nERROR\r\n")
	return sentinel
}

// newEngine opens the pty slave through drivers/serial (tarm/serial) and
// starts an engine on it.
func newEngine(t *testing.T, opts at.Options) (modem, *at.Engine) {
	t.Helper()
	pair := serialtest.New(t)
	port, err := serial.Open(serial.Config{Name: pair.Path})
	require.NoError(t, err)
	e := at.New(port, opts)
	t.Cleanup(func() { e.Close() })
	return modem{t: t, Pair: pair}, e
}

type result struct {
	resp *at.Response
	err  error
}

// async runs c on e in a goroutine.
func async(e *at.Engine, c at.Command) <-chan result {
	ch := make(chan result, 1)
	go func() {
		r, err := e.Do(context.Background(), c)
		ch <- result{r, err}
	}()
	return ch
}

func wait(t *testing.T, ch <-chan result) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(guard):
		t.Fatal("command did not return")
		return result{}
	}
}

func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(guard):
		t.Fatal("nothing received")
		var zero T
		return zero
	}
}
