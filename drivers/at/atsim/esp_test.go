package atsim_test

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/drivers/at"
	"github.com/iotd/iotd/drivers/at/atsim"
)

var espOpts = at.Options{LineEnd: "\r\n"}

// espUp brings an ESP module up: Wi-Fi joined, multi-link mode.
func espUp(t *testing.T, cfg atsim.Config) (*atsim.Modem, *at.Engine) {
	t.Helper()
	cfg.Dialect = atsim.DialectESP
	m, e := start(t, cfg, espOpts)
	run(t, e, "AT")
	run(t, e, "ATE0")
	run(t, e, "AT+CWMODE=1")
	r := do(t, e, at.Command{Text: `AT+CWJAP="lab","secret"`, Prefix: "-"})
	assert.Equal(t, []string{"WIFI CONNECTED", "WIFI GOT IP"}, r.Lines)
	run(t, e, "AT+CIPMUX=1")
	return m, e
}

func cipstart(t *testing.T, e *at.Engine, id int, typ string, port int) *at.Response {
	t.Helper()
	return do(t, e, at.Command{Text: fmt.Sprintf(`AT+CIPSTART=%d,"%s","127.0.0.1",%d`, id, typ, port), Prefix: "-"})
}

func cipsend(t *testing.T, e *at.Engine, id int, data []byte) {
	t.Helper()
	r := do(t, e, at.Command{Text: fmt.Sprintf("AT+CIPSEND=%d,%d", id, len(data)), Payload: data})
	assert.Equal(t, "SEND OK", r.Final)
	assert.Equal(t, []string{fmt.Sprintf("Recv %d bytes", len(data))}, r.Lines)
}

func TestESPBringUp(t *testing.T) {
	_, e := start(t, atsim.Config{Dialect: atsim.DialectESP,
		WiFi: []atsim.AP{{SSID: "lab", Password: "secret", RSSI: -61}}}, espOpts)
	run(t, e, "AT")
	run(t, e, "ATE0")
	r := run(t, e, "AT+GMR")
	require.Len(t, r.Lines, 4)
	assert.True(t, strings.HasPrefix(r.Lines[0], "AT version:2.4.0.0("))
	fails(t, e, "ATI")
	fails(t, e, "AT+CMEE=1")
	run(t, e, "AT+CWMODE=1")
	assert.Equal(t, []string{"+CWMODE:1"}, run(t, e, "AT+CWMODE?").Lines)
	assert.Equal(t, []string{"No AP"}, run(t, e, "AT+CWJAP?").Lines)

	tests := []struct {
		name, cmd string
		lines     []string
		ok        bool
	}{
		{"wrong password", `AT+CWJAP="lab","nope"`, []string{"+CWJAP:2"}, false},
		{"no such AP", `AT+CWJAP="other","secret"`, []string{"+CWJAP:3"}, false},
		{"joins", `AT+CWJAP="lab","secret"`, []string{"WIFI CONNECTED", "WIFI GOT IP"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := e.Do(t.Context(), at.Command{Text: tt.cmd, Prefix: "-", Timeout: guard})
			if tt.ok {
				require.NoError(t, err)
				assert.Equal(t, tt.lines, r.Lines)
				return
			}
			require.ErrorIs(t, err, at.ErrError)
		})
	}
	assert.Equal(t, []string{`+CWJAP:"lab","aa:bb:cc:dd:ee:ff",6,-61,0,0,0,0,0`}, run(t, e, "AT+CWJAP?").Lines)
	run(t, e, "AT+CIPMUX=1")
	assert.Equal(t, []string{"+CIPMUX:1"}, run(t, e, "AT+CIPMUX?").Lines)
	assert.Equal(t, []string{`+CIFSR:STAIP,"192.168.4.2"`, `+CIFSR:STAMAC,"24:0a:c4:00:00:01"`}, run(t, e, "AT+CIFSR").Lines)
}

func TestESPActiveReceive(t *testing.T) {
	p := newPeer(t)
	_, e := espUp(t, atsim.Config{})
	got := make(chan []byte, 16)
	require.NoError(t, e.HandleURC(at.URC{Prefix: "+IPD,", HeaderEnd: ':',
		Line: func(l string) int { return lastInt(l) },
		Data: func(_ string, d []byte) { got <- d }}))
	closed := watch(t, e, "0,CLOSED")

	r := cipstart(t, e, 0, "TCP", p.port())
	assert.Equal(t, []string{"0,CONNECT"}, r.Lines)
	r, err := e.Do(t.Context(), at.Command{Text: fmt.Sprintf(`AT+CIPSTART=0,"TCP","127.0.0.1",%d`, p.port()), Prefix: "-", Timeout: guard})
	require.ErrorIs(t, err, at.ErrError)
	_ = r
	conn := p.accepted(t)

	data := bytes.Repeat(allBytes(), 16) // 4096: more than one +IPD
	cipsend(t, e, 0, data[:2000])
	cipsend(t, e, 0, data[2000:])
	var all []byte
	for len(all) < len(data) {
		b := recvBytes(t, got)
		assert.LessOrEqual(t, len(b), 2920)
		all = append(all, b...)
	}
	assert.Equal(t, data, all)
	cipsend(t, e, 0, nasty)
	assert.Equal(t, nasty, recvBytes(t, got))

	conn.Close()
	assert.Equal(t, "0,CLOSED", closed.next(t))
	fails(t, e, "AT+CIPSEND=0,4")
}

func TestESPPassiveReceive(t *testing.T) {
	for _, mode := range []string{"AT+CIPRECVMODE=1", "AT+CIPRECVTYPE=5,1"} {
		t.Run(mode, func(t *testing.T) {
			p := newPeer(t)
			_, e := espUp(t, atsim.Config{})
			run(t, e, mode)
			ipd := watch(t, e, "+IPD,")
			closed := watch(t, e, "1,CLOSED")
			// +CIPRECVDATA:<n>,<data>: the header ends at its comma.
			require.NoError(t, e.HandleURC(at.URC{Prefix: "+CIPRECVDATA:", HeaderEnd: ',', Line: func(string) int { return 0 }}))
			cipstart(t, e, 1, "TCP", p.port())
			conn := p.accepted(t)
			cipsend(t, e, 1, allBytes())
			assert.Equal(t, "+IPD,1,256", ipd.next(t))
			assert.Equal(t, []string{"+CIPRECVLEN:,256,,,"}, run(t, e, "AT+CIPRECVLEN?").Lines)
			read := func(n int) []byte {
				return do(t, e, at.Command{Text: fmt.Sprintf("AT+CIPRECVDATA=1,%d", n), Raw: func(l string) int {
					if strings.HasPrefix(l, "+CIPRECVDATA:") {
						n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(l, "+CIPRECVDATA:"), ","))
						return n
					}
					return 0
				}}).Data
			}
			got := read(100)
			got = append(got, read(1000)...)
			assert.Equal(t, allBytes(), got)
			fails(t, e, "AT+CIPRECVDATA=1,100")

			// CLOSED waits until the buffer is drained.
			cipsend(t, e, 1, []byte("last"))
			assert.Equal(t, "+IPD,1,4", ipd.next(t))
			conn.Close()
			run(t, e, "AT")
			assert.Empty(t, closed.ch, "CLOSED is withheld while data is buffered")
			assert.Equal(t, "last", string(read(100)))
			assert.Equal(t, "1,CLOSED", closed.next(t))
		})
	}
}

func TestESPErrors(t *testing.T) {
	_, e := start(t, atsim.Config{Dialect: atsim.DialectESP, Hosts: map[string]string{"broker.example": "192.0.2.9"}}, espOpts)
	run(t, e, "ATE0")
	run(t, e, "AT+CIPMUX=1")
	fails(t, e, fmt.Sprintf(`AT+CIPSTART=0,"TCP","127.0.0.1",%d`, refusedPort(t))) // no Wi-Fi
	do(t, e, at.Command{Text: `AT+CWJAP="x","y"`, Prefix: "-"})
	fails(t, e, fmt.Sprintf(`AT+CIPSTART=0,"TCP","127.0.0.1",%d`, refusedPort(t)))
	fails(t, e, `AT+CIPSTART=5,"TCP","127.0.0.1",80`)
	fails(t, e, "AT+CIPSEND=0,8193")
	assert.Equal(t, []string{`+CIPDOMAIN:"192.0.2.9"`}, run(t, e, `AT+CIPDOMAIN="broker.example"`).Lines)
	fails(t, e, `AT+CIPDOMAIN="no-such-host.invalid"`)
}

func TestESPTwoLinksAndUDP(t *testing.T) {
	p := newPeer(t)
	u := newUDPEcho(t)
	_, e := espUp(t, atsim.Config{})
	type ipd struct {
		line string
		data []byte
	}
	got := make(chan ipd, 16)
	require.NoError(t, e.HandleURC(at.URC{Prefix: "+IPD,", HeaderEnd: ':',
		Line: func(l string) int { return lastInt(l) },
		Data: func(l string, d []byte) { got <- ipd{l, d} }}))
	cipstart(t, e, 0, "TCP", p.port())
	cipstart(t, e, 4, "UDP", u.port())
	cipsend(t, e, 0, []byte("tcp data"))
	cipsend(t, e, 4, []byte("udp datagram"))
	seen := map[string]string{}
	for range 2 {
		select {
		case x := <-got:
			seen[x.line] = string(x.data)
		case <-timeAfterGuard():
			t.Fatal("no data")
		}
	}
	assert.Equal(t, map[string]string{"+IPD,0,8:": "tcp data", "+IPD,4,12:": "udp datagram"}, seen)
	r := run(t, e, "AT+CIPCLOSE=5")
	assert.Equal(t, []string{"0,CLOSED", "4,CLOSED"}, r.Lines)
	p.sawEOF(t)
}
