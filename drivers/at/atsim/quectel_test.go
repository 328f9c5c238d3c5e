package atsim_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/drivers/at"
	"github.com/iotd/iotd/drivers/at/atsim"
)

// quectelUp brings a Quectel modem up to an active PDP context.
func quectelUp(t *testing.T, cfg atsim.Config) (*atsim.Modem, *at.Engine) {
	t.Helper()
	cfg.Dialect = atsim.DialectQuectel
	m, e := start(t, cfg, at.Options{})
	run(t, e, "AT")
	run(t, e, "ATE0")
	run(t, e, "AT+CMEE=1")
	run(t, e, `AT+QICSGP=1,1,"iot","","",0`)
	run(t, e, "AT+QIACT=1")
	return m, e
}

func qiopen(t *testing.T, e *at.Engine, id int, host string, port, mode int) string {
	t.Helper()
	r := do(t, e, at.Command{
		Text:  fmt.Sprintf(`AT+QIOPEN=1,%d,"TCP","%s",%d,0,%d`, id, host, port, mode),
		Await: func(l string) bool { return strings.HasPrefix(l, fmt.Sprintf("+QIOPEN: %d,", id)) },
	})
	return r.Result
}

func qisend(t *testing.T, e *at.Engine, id int, data []byte) {
	t.Helper()
	r := do(t, e, at.Command{Text: fmt.Sprintf("AT+QISEND=%d,%d", id, len(data)), Payload: data})
	assert.Equal(t, "SEND OK", r.Final)
}

// qird reads until n bytes arrived from socket id (buffer access mode).
func qird(t *testing.T, e *at.Engine, recv *urcs, id, n int) []byte {
	t.Helper()
	var got []byte
	for len(got) < n {
		r := do(t, e, at.Command{Text: fmt.Sprintf("AT+QIRD=%d,1500", id), Raw: func(l string) int {
			if strings.HasPrefix(l, "+QIRD: ") {
				return lastInt(l)
			}
			return 0
		}})
		got = append(got, r.Data...)
		if len(r.Data) == 0 {
			recv.waitFor(t, fmt.Sprintf(`+QIURC: "recv",%d`, id))
		}
	}
	return got
}

func TestQuectelBringUp(t *testing.T) {
	m, e := start(t, atsim.Config{Dialect: atsim.DialectQuectel, Signal: 17}, at.Options{})
	r := run(t, e, "AT")
	assert.Equal(t, "OK", r.Final)
	run(t, e, "ATE0")
	r = run(t, e, "ATI")
	assert.Equal(t, []string{"Quectel", "BG96", "Revision: BG96MAR02A07M1G"}, r.Lines)
	r = run(t, e, "AT+CGMM")
	assert.Equal(t, []string{"BG96"}, r.Lines)
	run(t, e, "AT+CMEE=1")
	r = run(t, e, "AT+CPIN?")
	assert.Equal(t, []string{"+CPIN: READY"}, r.Lines)
	r = run(t, e, "AT+CSQ")
	assert.Equal(t, []string{"+CSQ: 17,99"}, r.Lines)
	for _, c := range []string{"CREG", "CGREG", "CEREG"} {
		r = run(t, e, "AT+"+c+"?")
		assert.Equal(t, []string{"+" + c + ": 0,1"}, r.Lines)
	}
	r = run(t, e, "AT+CGATT?")
	assert.Equal(t, []string{"+CGATT: 1"}, r.Lines)
	run(t, e, `AT+QICSGP=1,1,"iot","","",0`)
	run(t, e, "AT+QIACT=1")
	r = run(t, e, "AT+QIACT?")
	assert.Equal(t, []string{`+QIACT: 1,1,1,"10.0.0.2"`}, r.Lines)

	err := fails(t, e, "AT+NOSUCH")
	var cme *at.CMEError
	require.ErrorAs(t, err, &cme)
	assert.Equal(t, 4, cme.Code)
	run(t, e, "AT+CMEE=0")
	require.ErrorIs(t, fails(t, e, "AT+NOSUCH"), at.ErrError)

	st := m.Stats()
	assert.Equal(t, 2, st.ByName["AT+NOSUCH"])
	assert.Positive(t, st.BytesIn)
	assert.Positive(t, st.BytesOut)
}

func TestQuectelSIMAndRegistration(t *testing.T) {
	tests := []struct {
		name  string
		cfg   atsim.Config
		cpin  string // "" means an error
		creg  string
		qiact bool
	}{
		{"no SIM", atsim.Config{SIM: atsim.SIMAbsent}, "", "+CREG: 0,0", false},
		{"PIN", atsim.Config{SIM: atsim.SIMPIN}, "+CPIN: SIM PIN", "+CREG: 0,0", false},
		{"denied", atsim.Config{Reg: atsim.RegDenied}, "+CPIN: READY", "+CREG: 0,3", false},
		{"searching", atsim.Config{Reg: atsim.RegSearching}, "+CPIN: READY", "+CREG: 0,2", false},
		{"roaming", atsim.Config{Reg: atsim.RegRoaming}, "+CPIN: READY", "+CREG: 0,5", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Dialect = atsim.DialectQuectel
			_, e := start(t, tt.cfg, at.Options{})
			run(t, e, "ATE0")
			run(t, e, "AT+CMEE=1")
			if tt.cpin == "" {
				var cme *at.CMEError
				require.ErrorAs(t, fails(t, e, "AT+CPIN?"), &cme)
				assert.Equal(t, 10, cme.Code)
			} else {
				assert.Equal(t, []string{tt.cpin}, run(t, e, "AT+CPIN?").Lines)
			}
			assert.Equal(t, []string{tt.creg}, run(t, e, "AT+CREG?").Lines)
			if tt.qiact {
				run(t, e, "AT+QIACT=1")
			} else {
				fails(t, e, "AT+QIACT=1")
			}
		})
	}

	t.Run("PIN entered", func(t *testing.T) {
		_, e := start(t, atsim.Config{Dialect: atsim.DialectQuectel, SIM: atsim.SIMPIN, PIN: "4321"}, at.Options{})
		run(t, e, "ATE0")
		fails(t, e, `AT+CPIN="1111"`)
		cpin := watch(t, e, "+CPIN:")
		run(t, e, `AT+CPIN="4321"`)
		assert.Equal(t, "+CPIN: READY", cpin.next(t), "the URC follows the PIN")
		assert.Equal(t, []string{"+CPIN: READY"}, run(t, e, "AT+CPIN?").Lines)
		assert.Equal(t, []string{"+CREG: 0,1"}, run(t, e, "AT+CREG?").Lines)
	})
}

func TestQuectelSocketBufferMode(t *testing.T) {
	p := newPeer(t)
	m, e := quectelUp(t, atsim.Config{})
	recv := watch(t, e, `+QIURC: "recv"`)
	closed := watch(t, e, `+QIURC: "closed"`)

	assert.Equal(t, "+QIOPEN: 0,0", qiopen(t, e, 0, "127.0.0.1", p.port(), 0))
	conn := p.accepted(t)
	for name, data := range map[string][]byte{"all 256 byte values": allBytes(), "nasty": nasty} {
		t.Run(name, func(t *testing.T) {
			qisend(t, e, 0, data)
			assert.Equal(t, data, qird(t, e, recv, 0, len(data)))
		})
	}
	r := run(t, e, "AT+QIRD=0,0")
	n := len(allBytes()) + len(nasty)
	assert.Equal(t, []string{fmt.Sprintf("+QIRD: %d,%d,0", n, n)}, r.Lines)
	r = run(t, e, "AT+QISEND=0,0")
	assert.Equal(t, []string{fmt.Sprintf("+QISEND: %d,%d,0", n, n)}, r.Lines)
	r = run(t, e, "AT+QIRD=0")
	assert.Equal(t, []string{"+QIRD: 0"}, r.Lines)

	// The peer closes: the URC comes, the id stays taken until QICLOSE.
	conn.Close()
	assert.Equal(t, `+QIURC: "closed",0`, closed.next(t))
	r = run(t, e, "AT+QISTATE=1,0")
	require.Len(t, r.Lines, 1)
	assert.Contains(t, r.Lines[0], `+QISTATE: 0,"TCP","127.0.0.1",`)
	assert.Equal(t, []int{0}, m.OpenSockets())
	require.ErrorIs(t, fails(t, e, "AT+QISEND=0,5"), at.ErrError)
	assert.Equal(t, "+QIOPEN: 0,563", qiopen(t, e, 0, "127.0.0.1", p.port(), 0))
	run(t, e, "AT+QICLOSE=0")
	assert.Empty(t, m.OpenSockets())
}

func TestQuectelPushMode(t *testing.T) {
	p := newPeer(t)
	_, e := quectelUp(t, atsim.Config{})
	got := make(chan []byte, 16)
	require.NoError(t, e.HandleURC(at.URC{
		Prefix: `+QIURC: "recv",`,
		Line:   func(l string) int { return lastInt(l) },
		Data:   func(_ string, d []byte) { got <- d },
	}))
	assert.Equal(t, "+QIOPEN: 3,0", qiopen(t, e, 3, "127.0.0.1", p.port(), 1))
	data := bytes.Repeat(allBytes(), 12) // 3072 bytes: more than one push
	for off := 0; off < len(data); off += 1460 {
		qisend(t, e, 3, data[off:min(off+1460, len(data))])
	}
	var all []byte
	for len(all) < len(data) {
		all = append(all, recvBytes(t, got)...)
	}
	assert.Equal(t, data, all)
	require.Error(t, func() error {
		_, err := e.Do(t.Context(), at.Command{Text: "AT+QIRD=3,100", Timeout: guard})
		return err
	}(), "QIRD is invalid in push mode")
}

func recvBytes(t *testing.T, ch <-chan []byte) []byte {
	t.Helper()
	select {
	case b := <-ch:
		return b
	case <-timeAfterGuard():
		t.Fatal("no data arrived")
		return nil
	}
}

func TestQuectelTwoSockets(t *testing.T) {
	p1, p2 := newPeer(t), newPeer(t)
	_, e := quectelUp(t, atsim.Config{})
	recv := watch(t, e, `+QIURC: "recv"`)
	assert.Equal(t, "+QIOPEN: 1,0", qiopen(t, e, 1, "127.0.0.1", p1.port(), 0))
	assert.Equal(t, "+QIOPEN: 2,0", qiopen(t, e, 2, "127.0.0.1", p2.port(), 0))
	qisend(t, e, 1, []byte("one"))
	qisend(t, e, 2, []byte("two two"))
	var one, two []byte
	for len(one) < 3 || len(two) < 7 {
		l := recv.next(t)
		id := lastInt(l)
		r := do(t, e, at.Command{Text: fmt.Sprintf("AT+QIRD=%d,1500", id), Raw: func(l string) int {
			if strings.HasPrefix(l, "+QIRD: ") {
				return lastInt(l)
			}
			return 0
		}})
		if id == 1 {
			one = append(one, r.Data...)
		} else {
			two = append(two, r.Data...)
		}
	}
	assert.Equal(t, "one", string(one))
	assert.Equal(t, "two two", string(two))
}

func TestQuectelOpenErrors(t *testing.T) {
	_, e := quectelUp(t, atsim.Config{Hosts: map[string]string{"broker.example": "127.0.0.1"}})
	assert.Equal(t, "+QIOPEN: 0,566", qiopen(t, e, 0, "127.0.0.1", refusedPort(t), 0), "refused")
	assert.Equal(t, "+QIOPEN: 0,566", qiopen(t, e, 0, "broker.example", refusedPort(t), 0), "a name from Hosts")
	assert.Equal(t, "+QIOPEN: 1,565", qiopen(t, e, 1, "no-such-host.invalid", 80, 0), "DNS")
	r := run(t, e, "AT+QIGETERROR")
	assert.Equal(t, []string{"+QIGETERROR: 565,DNS parse failed"}, r.Lines)
	var cme *at.CMEError
	require.ErrorAs(t, fails(t, e, `AT+QIOPEN=1,12,"TCP","127.0.0.1",80,0,0`), &cme)
	assert.Equal(t, 552, cme.Code)
	require.ErrorAs(t, fails(t, e, "AT+QISEND=0,1461"), &cme)
	assert.Equal(t, 552, cme.Code)
}

func TestQuectelDNS(t *testing.T) {
	_, e := quectelUp(t, atsim.Config{Hosts: map[string]string{"broker.example": "192.0.2.7"}})
	dns := watch(t, e, `+QIURC: "dnsgip"`)
	run(t, e, `AT+QIDNSGIP=1,"broker.example"`)
	assert.Equal(t, `+QIURC: "dnsgip",0,1,600`, dns.next(t))
	assert.Equal(t, `+QIURC: "dnsgip","192.0.2.7"`, dns.next(t))
}

func TestRunTimeSetters(t *testing.T) {
	m, e := quectelUp(t, atsim.Config{})
	run(t, e, "AT+CEREG=1")
	creg := watch(t, e, "+CEREG:")
	m.SetRegistration(atsim.RegSearching)
	assert.Equal(t, "+CEREG: 2", creg.next(t))
	assert.Equal(t, []string{"+CEREG: 1,2"}, run(t, e, "AT+CEREG?").Lines)
	fails(t, e, "AT+QIACT=2")
	m.SetRegistration(atsim.RegHome)
	assert.Equal(t, "+CEREG: 1", creg.next(t))
	m.SetSignal(5)
	assert.Equal(t, []string{"+CSQ: 5,99"}, run(t, e, "AT+CSQ").Lines)
	m.SetSIM(atsim.SIMAbsent)
	var cme *at.CMEError
	require.ErrorAs(t, fails(t, e, "AT+CPIN?"), &cme)
	assert.Equal(t, 10, cme.Code)
	assert.Equal(t, []string{"+CEREG: 1,0"}, run(t, e, "AT+CEREG?").Lines, "no SIM, no registration")
}
