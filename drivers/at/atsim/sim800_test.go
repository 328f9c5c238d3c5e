package atsim_test

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/drivers/at"
	"github.com/iotd/iotd/drivers/at/atsim"
	"github.com/iotd/iotd/drivers/serial"
)

// sim800Opts teaches the engine the SIM800's vendor finals.
func sim800Opts() at.Options {
	finals := []at.Final{{Text: "SHUT OK"}, {Text: "DATA ACCEPT:", Prefix: true}}
	for id := range 6 {
		finals = append(finals,
			at.Final{Text: fmt.Sprintf("%d, SEND OK", id)},
			at.Final{Text: fmt.Sprintf("%d, SEND FAIL", id), Fail: true},
			at.Final{Text: fmt.Sprintf("%d, CLOSE OK", id)})
	}
	return at.Options{Finals: finals}
}

// sim800Up brings the stack up in multi-IP mode with manual receive (or
// what setup says, run before AT+CSTT) as a host must: CIPMUX and
// CIPRXGET in IP INITIAL, then CSTT, CIICR, CIFSR.
func sim800Up(t *testing.T, cfg atsim.Config, setup ...string) (*atsim.Modem, *at.Engine) {
	t.Helper()
	cfg.Dialect = atsim.DialectSIM800
	m, e := start(t, cfg, sim800Opts())
	run(t, e, "ATE0")
	if setup == nil {
		setup = []string{"AT+CIPRXGET=1"}
	}
	for _, s := range append([]string{"AT+CIPSHUT", "AT+CIPMUX=1"}, setup...) {
		run(t, e, s)
	}
	run(t, e, `AT+CSTT="iot","",""`)
	run(t, e, "AT+CIICR")
	assert.Contains(t, run(t, e, "AT+CIFSR;E0").Lines, "10.0.0.2")
	return m, e
}

// sim800Open opens connection id and returns the module's "<id>, ..." line.
func sim800Open(t *testing.T, e *at.Engine, id int, proto, host string, port int) string {
	t.Helper()
	prefix := fmt.Sprintf("%d, ", id)
	return do(t, e, at.Command{
		Text:  fmt.Sprintf(`AT+CIPSTART=%d,"%s","%s",%d`, id, proto, host, port),
		Await: func(l string) bool { return strings.HasPrefix(l, prefix) && !strings.HasSuffix(l, "CLOSED") },
	}).Result
}

func sim800Send(t *testing.T, e *at.Engine, id int, data []byte) string {
	t.Helper()
	return do(t, e, at.Command{Text: fmt.Sprintf("AT+CIPSEND=%d,%d", id, len(data)), Payload: data}).Final
}

// cipRead reads up to n bytes of connection id with AT+CIPRXGET=2 and
// returns them and the header line.
func cipRead(t *testing.T, e *at.Engine, id, n int) ([]byte, string) {
	t.Helper()
	r := do(t, e, at.Command{Text: fmt.Sprintf("AT+CIPRXGET=2,%d,%d", id, n), Raw: func(l string) int {
		f := strings.Split(strings.TrimPrefix(l, "+CIPRXGET: "), ",")
		if len(f) != 4 || f[0] != "2" {
			return 0
		}
		k, _ := strconv.Atoi(f[2])
		return k
	}})
	return r.Data, header(t, r, "+CIPRXGET: 2,")
}

// header is the response line with prefix (the URC fault may add others).
func header(t *testing.T, r *at.Response, prefix string) string {
	t.Helper()
	for _, l := range r.Lines {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	t.Fatalf("no %q line in %q", prefix, r.Lines)
	return ""
}

// waitAvail polls AT+CIPRXGET=4 until at least n bytes are buffered
// (the echo peer's answer may still be on its way) and returns the count.
func waitAvail(t *testing.T, e *at.Engine, id, n int) int {
	t.Helper()
	deadline := timeAfterGuard()
	for {
		l := header(t, run(t, e, fmt.Sprintf("AT+CIPRXGET=4,%d", id)), fmt.Sprintf("+CIPRXGET: 4,%d,", id))
		if k := lastInt(l); k >= n {
			return k
		}
		select {
		case <-deadline:
			t.Fatalf("fewer than %d bytes arrived on %d", n, id)
		default:
		}
	}
}

// sim800Raw starts a SIM800 and opens its port without the engine, to
// see the exact bytes.
func sim800Raw(t *testing.T) *rawReader {
	t.Helper()
	m, err := atsim.Start(t.Context(), atsim.Config{Dialect: atsim.DialectSIM800})
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	port, err := serial.Open(serial.Config{Name: m.Path()})
	require.NoError(t, err)
	t.Cleanup(func() { port.Close() })
	return &rawReader{port: port}
}

func TestSIM800BootAndIdentity(t *testing.T) {
	r := sim800Raw(t)
	assert.Equal(t, "\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n\r\nCall Ready\r\n\r\nSMS Ready\r\n", r.until(t, "SMS Ready\r\n"))
	r.send(t, "AT\r")
	assert.Equal(t, "AT\r\r\nOK\r\n", r.until(t, "OK\r\n"), "echo is on at power-up; CR ends a line")
	for _, tc := range []struct{ cmd, want string }{
		{"ATE0", "ATE0\r\r\nOK\r\n"},
		{"ATI", "\r\nSIM800 R14.18\r\n\r\nOK\r\n"},
		{"AT+CGMM", "\r\nSIMCOM_SIM800L\r\n\r\nOK\r\n"},
		{"AT+CGMR", "\r\nRevision:1418B05SIM800L24\r\n\r\nOK\r\n"},
		{"AT+GSN", "\r\n864369032292264\r\n\r\nOK\r\n"},
		{"AT+CCID", "\r\n89860012345678901236\r\n\r\nOK\r\n"},
		{"AT+CIMI", "\r\n460001234567892\r\n\r\nOK\r\n"},
		{"AT+CPIN?", "\r\n+CPIN: READY\r\n\r\nOK\r\n"},
		{"AT+CMEE=2", "\r\nOK\r\n"},
		{"AT+CEREG?", "\r\nERROR\r\n"}, // 2G: no CEREG, whatever CMEE says
		{"AT+NOSUCH", "\r\nERROR\r\n"},
		{"AT+CREG=2", "\r\nOK\r\n"},
		{"AT+CREG?", "\r\n+CREG: 2,1,\"1A2B\",\"01C2\"\r\n\r\nOK\r\n"},
		{"AT+CGREG?", "\r\n+CGREG: 0,1\r\n\r\nOK\r\n"},
		{"AT+CGATT?", "\r\n+CGATT: 1\r\n\r\nOK\r\n"},
		{"AT+COPS?", "\r\n+COPS: 0,0,\"iotd sim\"\r\n\r\nOK\r\n"},
	} {
		r.send(t, tc.cmd+"\r")
		end := "OK\r\n"
		if strings.HasSuffix(tc.want, "ERROR\r\n") {
			end = "ERROR\r\n"
		}
		assert.Equal(t, tc.want, r.until(t, end), tc.cmd)
	}
}

// TestSIM800StackStates walks the IP state machine over the raw line: the
// order a host must keep, the commands refused out of order, and the
// answers without OK (CIFSR) or with lines after the OK (CIPSTATUS).
func TestSIM800StackStates(t *testing.T) {
	r := sim800Raw(t)
	r.until(t, "SMS Ready\r\n")
	cmd := func(c, end string) string {
		t.Helper()
		r.send(t, c+"\r")
		return r.until(t, end)
	}
	cmd("ATE0", "OK\r\n")
	status := func(state string) string {
		t.Helper()
		return "\r\nOK\r\n\r\nSTATE: " + state + "\r\n"
	}
	// multiStatus is AT+CIPSTATUS in multi-IP mode up to its last C: line.
	multiStatus := func() string {
		t.Helper()
		r.send(t, "AT+CIPSTATUS\r")
		return r.until(t, "\r\nC: 5,") + r.until(t, "\r\n")
	}
	assert.Equal(t, status("IP INITIAL"), cmd("AT+CIPSTATUS", "IP INITIAL\r\n"), "single mode: no C: lines")
	assert.Equal(t, "\r\nERROR\r\n", cmd("AT+CIICR", "ERROR\r\n"), "CIICR before CSTT")
	assert.Equal(t, "\r\nERROR\r\n", cmd("AT+CIFSR", "ERROR\r\n"), "no context yet")
	assert.Equal(t, "\r\nOK\r\n", cmd("AT+CIPMUX=1", "OK\r\n"))
	assert.Equal(t, "\r\nOK\r\n", cmd("AT+CIPRXGET=1", "OK\r\n"))
	assert.Equal(t, "\r\nOK\r\n", cmd(`AT+CSTT="iot","user","pass"`, "OK\r\n"))
	assert.Equal(t, "\r\n+CSTT: \"iot\",\"user\",\"pass\"\r\n\r\nOK\r\n", cmd("AT+CSTT?", "OK\r\n"))
	assert.Equal(t, "\r\nERROR\r\n", cmd(`AT+CSTT="other"`, "ERROR\r\n"), "CSTT only in IP INITIAL")
	assert.Equal(t, "\r\nERROR\r\n", cmd("AT+CIPMUX=0", "ERROR\r\n"), "CIPMUX only in IP INITIAL")
	assert.True(t, strings.HasPrefix(multiStatus(), status("IP START")))
	assert.Equal(t, "\r\nOK\r\n", cmd("AT+CIICR", "OK\r\n"))
	assert.Equal(t, "\r\nERROR\r\n", cmd(`AT+CSTT="iot"`, "ERROR\r\n"), "CSTT after CIICR")
	assert.Equal(t, "\r\nERROR\r\n", cmd("AT+CIICR", "ERROR\r\n"), "CIICR twice")
	assert.Equal(t, "\r\nERROR\r\n", cmd(`AT+CIPSTART=0,"TCP","127.0.0.1",1`, "ERROR\r\n"), "CIPSTART before CIFSR")
	assert.True(t, strings.HasPrefix(multiStatus(), status("IP GPRSACT")))

	// AT+CIFSR: the address alone, no OK; the next command's answer
	// follows it directly.
	r.send(t, "AT+CIFSR\r")
	r.send(t, "AT\r")
	assert.Equal(t, "\r\n10.0.0.2\r\n\r\nOK\r\n", r.until(t, "OK\r\n"))
	assert.Equal(t, "\r\n10.0.0.2\r\n\r\nOK\r\n", cmd("AT+CIFSR;E0", "OK\r\n"), "TinyGSM's way to get an OK")

	want := status("IP STATUS") + "\r\n"
	for id := range 6 {
		want += fmt.Sprintf("C: %d,,\"\",\"\",\"\",\"INITIAL\"\r\n", id)
	}
	assert.Equal(t, want, multiStatus())
	assert.Equal(t, "\r\n+CIPSTATUS: 3,,\"\",\"\",\"\",\"INITIAL\"\r\n\r\nOK\r\n", cmd("AT+CIPSTATUS=3", "OK\r\n"))
	assert.Equal(t, "\r\nERROR\r\n", cmd("AT+CIPSEND=0,5", "ERROR\r\n"), "send on a connection never opened")
	assert.Equal(t, "\r\nERROR\r\n", cmd("AT+CIPCLOSE=0", "ERROR\r\n"))
	assert.Equal(t, "\r\nERROR\r\n", cmd("AT+CIPSTART=6,\"TCP\",\"127.0.0.1\",1", "ERROR\r\n"), "numbers are 0..5")
	assert.Equal(t, "\r\nSHUT OK\r\n", cmd("AT+CIPSHUT", "SHUT OK\r\n"))
	assert.True(t, strings.HasPrefix(multiStatus(), status("IP INITIAL")), "CIPSHUT keeps CIPMUX")
	assert.Equal(t, "\r\nOK\r\n", cmd("AT+CIPMUX=0", "OK\r\n"), "back in IP INITIAL")
}

func TestSIM800RoundTrip(t *testing.T) {
	p := newPeer(t)
	m, e := sim800Up(t, atsim.Config{Hosts: map[string]string{"broker.example": "127.0.0.1"}})
	notify := watch(t, e, "+CIPRXGET: 1,")
	require.Equal(t, "0, CONNECT OK", sim800Open(t, e, 0, "TCP", "broker.example", p.port()))
	p.accepted(t)
	assert.Equal(t, "0, ALREADY CONNECT", sim800Open(t, e, 0, "TCP", "127.0.0.1", p.port()))
	assert.Equal(t, []string{fmt.Sprintf(`+CIPSTATUS: 0,0,"TCP","127.0.0.1","%d","CONNECTED"`, p.port())},
		run(t, e, "AT+CIPSTATUS=0").Lines, "the address the name resolved to")
	assert.Equal(t, "+CIPSEND: 0,1460", run(t, e, "AT+CIPSEND?").Lines[0])
	assert.Equal(t, "+CIPSEND: 1,0", run(t, e, "AT+CIPSEND?").Lines[1])

	// CR, LF, "OK", NUL and Ctrl-Z pass both ways untouched.
	data := append(bytes.Repeat(nasty, 4), allBytes()...)
	data = append(data, bytes.Repeat(allBytes(), 5)...)
	var sent int
	for off := 0; off < len(data); off += 1460 {
		chunk := data[off:min(off+1460, len(data))]
		assert.Equal(t, "0, SEND OK", sim800Send(t, e, 0, chunk))
		sent++
	}
	fails(t, e, "AT+CIPSEND=0,1461")
	assert.Equal(t, "+CIPRXGET: 1,0", notify.next(t))
	var got []byte
	for len(got) < len(data) {
		n := waitAvail(t, e, 0, 1)
		chunk, hdr := cipRead(t, e, 0, min(n, 1460))
		assert.Equal(t, fmt.Sprintf("+CIPRXGET: 2,0,%d,%d", len(chunk), n-len(chunk)), hdr, "length read, then what is left")
		got = append(got, chunk...)
	}
	assert.Equal(t, data, got)
	_, hdr := cipRead(t, e, 0, 100)
	assert.Equal(t, "+CIPRXGET: 2,0,0,0", hdr)
	fails(t, e, "AT+CIPRXGET=2,0,1461")
	assert.Equal(t, sent, m.Stats().Sends)
	assert.Equal(t, 1460, m.Stats().MaxSend)

	// Notified again once drained.
	assert.Equal(t, "0, SEND OK", sim800Send(t, e, 0, []byte("again")))
	assert.Equal(t, "+CIPRXGET: 1,0", notify.next(t))
	r := do(t, e, at.Command{Text: "AT+CIPRXGET=3,0,730"})
	assert.Equal(t, []string{"+CIPRXGET: 3,0,5,0", "616761696E"}, r.Lines)

	fails(t, e, "AT+CIPRXGET=0") // a connection is open: too late to change the mode
	assert.Equal(t, "0, CLOSE OK", run(t, e, "AT+CIPCLOSE=0,1").Final)
	p.sawEOF(t)
	fails(t, e, "AT+CIPSEND=0,1")
	fails(t, e, "AT+CIPCLOSE=0")
	assert.Equal(t, []string{fmt.Sprintf(`+CIPSTATUS: 0,0,"TCP","127.0.0.1","%d","CLOSED"`, p.port())},
		run(t, e, "AT+CIPSTATUS=0").Lines)
	assert.Empty(t, m.OpenSockets())
}

func TestSIM800PeerClose(t *testing.T) {
	p := newPeer(t)
	m, e := sim800Up(t, atsim.Config{})
	notify := watch(t, e, "+CIPRXGET: 1,")
	closed := watch(t, e, "2, CLOSED")
	require.Equal(t, "2, CONNECT OK", sim800Open(t, e, 2, "TCP", "127.0.0.1", p.port()))
	conn := p.accepted(t)
	_, err := conn.Write([]byte("bye\r\nOK\r\n"))
	require.NoError(t, err)
	assert.Equal(t, "+CIPRXGET: 1,2", notify.next(t))
	require.NoError(t, conn.Close())
	assert.Equal(t, "2, CLOSED", closed.next(t))
	fails(t, e, "AT+CIPSEND=2,1")
	fails(t, e, "AT+CIPCLOSE=2")
	data, hdr := cipRead(t, e, 2, 1460)
	assert.Equal(t, "+CIPRXGET: 2,2,9,0", hdr, "what came before the close can still be read")
	assert.Equal(t, "bye\r\nOK\r\n", string(data))
	assert.Empty(t, m.OpenSockets(), "read empty: the number is free")
	require.Equal(t, "2, CONNECT OK", sim800Open(t, e, 2, "TCP", "127.0.0.1", p.port()))

	// Connect failures.
	assert.Equal(t, "3, CONNECT FAIL", sim800Open(t, e, 3, "TCP", "127.0.0.1", refusedPort(t)))
	assert.Equal(t, "4, CONNECT FAIL", sim800Open(t, e, 4, "TCP", "no-such-host.invalid", 1883))
	assert.Equal(t, []int{2}, m.OpenSockets())
}

func TestSIM800QuickSendAndPush(t *testing.T) {
	p := newPeer(t)
	_, e := sim800Up(t, atsim.Config{}, "AT+CIPQSEND=1", "AT+CIPRXGET=0")
	got := make(chan []byte, 16)
	require.NoError(t, e.HandleURC(at.URC{Prefix: "+RECEIVE,", Line: func(l string) int {
		f := strings.Split(strings.TrimSuffix(l, ":"), ",")
		n, _ := strconv.Atoi(f[len(f)-1])
		return n
	}, Data: func(_ string, d []byte) { got <- d }}))
	require.Equal(t, "1, CONNECT OK", sim800Open(t, e, 1, "TCP", "127.0.0.1", p.port()))
	assert.Equal(t, "DATA ACCEPT:1,256", sim800Send(t, e, 1, allBytes()))
	var all []byte
	for len(all) < 256 {
		all = append(all, recvBytes(t, got)...)
	}
	assert.Equal(t, allBytes(), all)

	// Without a length: data up to Ctrl-Z.
	r := do(t, e, at.Command{Text: "AT+CIPSEND=1", Payload: []byte("text\x1a")})
	assert.Equal(t, "DATA ACCEPT:1,4", r.Final)
	assert.Equal(t, "text", string(recvBytes(t, got)))
}

func TestSIM800UDP(t *testing.T) {
	u := newUDPEcho(t)
	_, e := sim800Up(t, atsim.Config{})
	notify := watch(t, e, "+CIPRXGET: 1,")
	require.Equal(t, "5, CONNECT OK", sim800Open(t, e, 5, "UDP", "127.0.0.1", u.port()))
	assert.Equal(t, "5, SEND OK", sim800Send(t, e, 5, []byte("ping")))
	assert.Equal(t, "+CIPRXGET: 1,5", notify.next(t))
	data, _ := cipRead(t, e, 5, 1460)
	assert.Equal(t, "ping", string(data))
}

func TestSIM800BearerLoss(t *testing.T) {
	p := newPeer(t)
	m, e := sim800Up(t, atsim.Config{})
	deact := watch(t, e, "+PDP: DEACT")
	state := watch(t, e, "STATE:")
	require.Equal(t, "0, CONNECT OK", sim800Open(t, e, 0, "TCP", "127.0.0.1", p.port()))
	p.accepted(t)
	require.NoError(t, m.Inject(atsim.Fault{Kind: atsim.BearerLoss}))
	assert.Equal(t, "+PDP: DEACT", deact.next(t))
	p.sawEOF(t)
	run(t, e, "AT+CIPSTATUS")
	assert.Equal(t, "STATE: PDP DEACT", state.next(t))
	fails(t, e, "AT+CIPSEND=0,1")
	fails(t, e, `AT+CIPSTART=0,"TCP","127.0.0.1",1`)
	fails(t, e, "AT+CIFSR")
	assert.Equal(t, "SHUT OK", run(t, e, "AT+CIPSHUT").Final)
	run(t, e, "AT+CIPSTATUS")
	assert.Equal(t, "STATE: IP INITIAL", state.next(t))
	// The host brings the stack up again the same way.
	run(t, e, `AT+CSTT="iot"`)
	run(t, e, "AT+CIICR")
	run(t, e, "AT+CIFSR;E0")
	require.Equal(t, "0, CONNECT OK", sim800Open(t, e, 0, "TCP", "127.0.0.1", p.port()))
}

func TestSIM800StaleSockets(t *testing.T) {
	cfg := atsim.Config{Dialect: atsim.DialectSIM800, Faults: []atsim.Fault{{Kind: atsim.StaleSockets, Sockets: 12}}}
	m, e := start(t, cfg, sim800Opts())
	run(t, e, "ATE0")
	assert.Equal(t, []int{0, 1, 2, 3, 4, 5}, m.OpenSockets(), "as many as the module has")
	fails(t, e, "AT+CIPMUX=1")   // not in IP INITIAL: the previous host's stack is up
	fails(t, e, "AT+CIPRXGET=1") // connections are open
	assert.Equal(t, []string{`+CIPSTATUS: 0,0,"TCP","192.0.2.1","8883","CONNECTED"`}, run(t, e, "AT+CIPSTATUS=0").Lines)
	assert.Equal(t, "0, ALREADY CONNECT", sim800Open(t, e, 0, "TCP", "127.0.0.1", 1))
	assert.Equal(t, "0, CLOSE OK", run(t, e, "AT+CIPCLOSE=0").Final)
	assert.Equal(t, []int{1, 2, 3, 4, 5}, m.OpenSockets())
	assert.Equal(t, "SHUT OK", run(t, e, "AT+CIPSHUT").Final, "the one command that frees them all")
	assert.Empty(t, m.OpenSockets())
}

// TestSIM800Faults runs a round trip through the output faults and the
// line rate, and checks the crash faults on this personality.
func TestSIM800Faults(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  atsim.Config
	}{
		{"fragment", atsim.Config{Seed: 5, Faults: []atsim.Fault{{Kind: atsim.Fragment}}}},
		{"urc", atsim.Config{Faults: []atsim.Fault{{Kind: atsim.URCInResponse}}}},
		{"throttle", atsim.Config{Baud: 115200}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPeer(t)
			_, e := sim800Up(t, tc.cfg)
			notify := watch(t, e, "+CIPRXGET: 1,")
			require.Equal(t, "0, CONNECT OK", sim800Open(t, e, 0, "TCP", "127.0.0.1", p.port()))
			assert.Equal(t, "0, SEND OK", sim800Send(t, e, 0, nasty))
			notify.next(t)
			waitAvail(t, e, 0, len(nasty))
			data, _ := cipRead(t, e, 0, 1460)
			assert.Equal(t, nasty, data)
		})
	}
	t.Run("halftyped", func(t *testing.T) {
		m, e := start(t, atsim.Config{Dialect: atsim.DialectSIM800, Faults: []atsim.Fault{{Kind: atsim.HalfTyped}}}, sim800Opts())
		fails(t, e, "AT")
		run(t, e, "AT")
		assert.Contains(t, m.Commands(), "AT+CSAT")
	})
	t.Run("nonaterror", func(t *testing.T) {
		_, e := start(t, atsim.Config{Dialect: atsim.DialectSIM800, Faults: []atsim.Fault{{Kind: atsim.NonATError}}}, sim800Opts())
		run(t, e, "AT")
		_, err := e.Do(context.Background(), at.Command{Text: "\x1b", Timeout: guard})
		assert.ErrorIs(t, err, at.ErrError)
	})
	t.Run("rebootmid", func(t *testing.T) {
		m, e := sim800Up(t, atsim.Config{})
		ready := watch(t, e, "SMS Ready")
		require.NoError(t, m.Inject(atsim.Fault{Kind: atsim.RebootMidCommand, Command: "AT+CIPSTART="}))
		_, err := e.Do(context.Background(), at.Command{Text: `AT+CIPSTART=0,"TCP","127.0.0.1",1`, Timeout: guard / 20})
		require.ErrorIs(t, err, at.ErrTimeout, "the command dies with the module")
		ready.next(t)
		run(t, e, "ATE0")
		run(t, e, "AT+CIPSTATUS")
		fails(t, e, `AT+CIPSTART=0,"TCP","127.0.0.1",1`) // IP INITIAL again
		assert.Equal(t, 1, m.Stats().Reboots)
	})
}
