package atsim_test

import (
	"bytes"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/drivers/at"
	"github.com/iotd/iotd/drivers/at/atsim"
	"github.com/iotd/iotd/drivers/serial"
)

// roundTrip opens a socket to p, sends data and reads it back (Quectel).
func roundTrip(t *testing.T, e *at.Engine, p *peer, id int, data []byte) {
	t.Helper()
	recv := watch(t, e, fmt.Sprintf(`+QIURC: "recv",%d`, id))
	require.Equal(t, fmt.Sprintf("+QIOPEN: %d,0", id), qiopen(t, e, id, "127.0.0.1", p.port(), 0))
	qisend(t, e, id, data)
	assert.Equal(t, data, qird(t, e, recv, id, len(data)))
	run(t, e, fmt.Sprintf("AT+QICLOSE=%d", id))
}

func TestFaultFragment(t *testing.T) {
	writesPerByte := map[bool]float64{}
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprint("fragment=", on), func(t *testing.T) {
			cfg := atsim.Config{Seed: 7}
			if on {
				cfg.Faults = []atsim.Fault{{Kind: atsim.Fragment}}
			}
			p := newPeer(t)
			m, e := quectelUp(t, cfg)
			roundTrip(t, e, p, 0, bytes.Repeat(allBytes(), 4))
			st := m.Stats()
			writesPerByte[on] = float64(st.Writes) / float64(st.BytesOut)
		})
	}
	// Fragments are 1..8 bytes: at least one write per 8 bytes.
	assert.GreaterOrEqual(t, writesPerByte[true], 1.0/8)
	assert.Less(t, writesPerByte[false], 1.0/8)
}

func TestFaultURCInResponse(t *testing.T) {
	p := newPeer(t)
	_, e := quectelUp(t, atsim.Config{Faults: []atsim.Fault{{Kind: atsim.URCInResponse, URC: "+TEST: 1"}}})
	noise := watch(t, e, "+TEST:")
	r := run(t, e, "AT+CSQ")
	assert.Equal(t, []string{"+CSQ: 20,99"}, r.Lines)
	assert.Equal(t, "+TEST: 1", noise.next(t), "between +CSQ and OK")
	roundTrip(t, e, p, 0, nasty) // before "> " and inside +QIRD's response
	assert.GreaterOrEqual(t, len(noise.ch), 2)
}

func TestFaultURCInResponseDefault(t *testing.T) {
	m, e := quectelUp(t, atsim.Config{})
	noise := watch(t, e, "+QIND:")
	require.NoError(t, m.Inject(atsim.Fault{Kind: atsim.URCInResponse}))
	run(t, e, "AT+CSQ")
	assert.Equal(t, `+QIND: "csq",20,99`, noise.next(t))
	m.Clear(atsim.URCInResponse)
	run(t, e, "AT+CSQ")
	run(t, e, "AT")
	assert.Empty(t, noise.ch)
}

func TestFaultReboot(t *testing.T) {
	p := newPeer(t)
	m, e := quectelUp(t, atsim.Config{})
	rdy := watch(t, e, "RDY")
	app := watch(t, e, "APP RDY")
	require.Equal(t, "+QIOPEN: 0,0", qiopen(t, e, 0, "127.0.0.1", p.port(), 0))
	p.accepted(t)
	run(t, e, "AT+CMEE=2")

	m.Reboot()
	assert.Equal(t, "RDY", rdy.next(t))
	assert.Equal(t, "APP RDY", app.next(t))
	p.sawEOF(t)
	assert.Empty(t, m.OpenSockets())
	assert.Empty(t, run(t, e, "AT+QIACT?").Lines, "PDP down after a reboot")
	require.ErrorIs(t, fails(t, e, "AT+NOSUCH"), at.ErrError, "CMEE back to 0")
	assert.Equal(t, 1, m.Stats().Reboots)

	// AT+CFUN=1,1 reboots too.
	run(t, e, "AT+CFUN=1,1")
	assert.Equal(t, "RDY", rdy.next(t))
	assert.Equal(t, 2, m.Stats().Reboots)
}

func TestFaultRebootEchoesAgain(t *testing.T) {
	m, err := atsim.Start(t.Context(), atsim.Config{Dialect: atsim.DialectQuectel})
	require.NoError(t, err)
	defer m.Close()
	port, err := serial.Open(serial.Config{Name: m.Path()})
	require.NoError(t, err)
	defer port.Close()
	r := &rawReader{port: port}
	r.until(t, "APP RDY\r\n")
	r.send(t, "ATE0\r")
	r.until(t, "ATE0\r\r\nOK\r\n")
	r.send(t, "AT\r")
	r.until(t, "\r\nOK\r\n")
	m.Reboot()
	r.until(t, "APP RDY\r\n")
	r.send(t, "AT\r")
	assert.Equal(t, "AT\r\r\nOK\r\n", r.until(t, "OK\r\n"), "echo is on after a reboot")
}

// rawReader reads a port without the engine, to see the exact bytes.
type rawReader struct {
	port serial.Port
	buf  []byte
}

func (r *rawReader) send(t *testing.T, s string) {
	t.Helper()
	_, err := r.port.Write([]byte(s))
	require.NoError(t, err)
}

// until reads until s has arrived and returns everything up to it.
func (r *rawReader) until(t *testing.T, s string) string {
	t.Helper()
	deadline := time.Now().Add(guard)
	for {
		if i := bytes.Index(r.buf, []byte(s)); i >= 0 {
			out := string(r.buf[:i+len(s)])
			r.buf = r.buf[i+len(s):]
			return out
		}
		require.True(t, time.Now().Before(deadline), "waiting for %q, have %q", s, r.buf)
		b := make([]byte, 512)
		n, err := r.port.Read(b)
		r.buf = append(r.buf, b[:n]...)
		if err != nil && !isNoData(err) {
			require.NoError(t, err)
		}
	}
}

func isNoData(err error) bool {
	var te interface{ Timeout() bool }
	return err == io.EOF || (asTimeout(err, &te) && te.Timeout())
}

func TestFaultStall(t *testing.T) {
	m, e := quectelUp(t, atsim.Config{})
	require.NoError(t, m.Inject(atsim.Fault{Kind: atsim.Stall, Duration: 2 * time.Second}))
	_, err := e.Do(t.Context(), at.Command{Text: "AT+CSQ", Timeout: 200 * time.Millisecond})
	require.ErrorIs(t, err, at.ErrTimeout)
	// The driver resynchronises with AT until the module answers again.
	deadline := time.Now().Add(guard)
	for {
		_, err := e.Do(t.Context(), at.Command{Text: "AT", Timeout: 200 * time.Millisecond})
		if err == nil {
			break
		}
		require.True(t, time.Now().Before(deadline), "the module never answered again")
	}
	assert.Equal(t, []string{"+CSQ: 20,99"}, run(t, e, "AT+CSQ").Lines)
}

func TestFaultGarbage(t *testing.T) {
	m, err := atsim.Start(t.Context(), atsim.Config{Dialect: atsim.DialectQuectel, Seed: 3,
		Faults: []atsim.Fault{{Kind: atsim.Garbage}}})
	require.NoError(t, err)
	defer m.Close()
	port, err := serial.Open(serial.Config{Name: m.Path()})
	require.NoError(t, err)
	defer port.Close()
	r := &rawReader{port: port}
	r.until(t, "APP RDY\r\n")
	r.send(t, "ATE0\r")
	r.until(t, "\r\nOK\r\n")
	g := r.until(t, "\r\n")
	assert.NotEmpty(t, bytes.Trim([]byte(g), "\r\n"), "a garbage line follows the final result")
	assert.NotContains(t, g[:len(g)-2], "\r")
	assert.NotContains(t, g[:len(g)-2], "\n")

	// Through the engine, garbage between responses does no harm.
	m.Clear(atsim.Garbage)
	port.Close()
	_, e := quectelUp(t, atsim.Config{Faults: []atsim.Fault{{Kind: atsim.Garbage}}})
	for range 5 {
		assert.Equal(t, "OK", run(t, e, "AT+QIACT=1").Final)
	}
}

func TestFaultLostPrompt(t *testing.T) {
	p := newPeer(t)
	m, e := quectelUp(t, atsim.Config{})
	require.Equal(t, "+QIOPEN: 0,0", qiopen(t, e, 0, "127.0.0.1", p.port(), 0))
	recv := watch(t, e, `+QIURC: "recv",0`)
	require.NoError(t, m.Inject(atsim.Fault{Kind: atsim.LostPrompt}))
	_, err := e.Do(t.Context(), at.Command{Text: "AT+QISEND=0,4", Payload: []byte("lost"), Timeout: 300 * time.Millisecond})
	require.ErrorIs(t, err, at.ErrTimeout)
	assert.Contains(t, err.Error(), "prompt")
	qisend(t, e, 0, []byte("sent"))
	assert.Equal(t, "sent", string(qird(t, e, recv, 0, 4)), "the echo peer got only the second send")
	assert.Equal(t, []string{"+QIRD: 4,4,0"}, run(t, e, "AT+QIRD=0,0").Lines)
	assert.Equal(t, 1, m.Stats().Sends)
}
