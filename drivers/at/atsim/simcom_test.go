package atsim_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/drivers/at"
	"github.com/iotd/iotd/drivers/at/atsim"
)

func simcomUp(t *testing.T, cfg atsim.Config, setup ...string) (*atsim.Modem, *at.Engine) {
	t.Helper()
	cfg.Dialect = atsim.DialectSIMCom
	m, e := start(t, cfg, at.Options{})
	run(t, e, "AT")
	run(t, e, "ATE0")
	run(t, e, `AT+CGDCONT=1,"IP","iot"`)
	run(t, e, "AT+CIPMODE=0")
	for _, s := range setup {
		run(t, e, s)
	}
	r := do(t, e, at.Command{Text: "AT+NETOPEN", Await: func(l string) bool { return strings.HasPrefix(l, "+NETOPEN:") }})
	require.Equal(t, "+NETOPEN: 0", r.Result)
	return m, e
}

func cipopen(t *testing.T, e *at.Engine, id, port int) string {
	t.Helper()
	return do(t, e, at.Command{
		Text:  fmt.Sprintf(`AT+CIPOPEN=%d,"TCP","127.0.0.1",%d`, id, port),
		Await: func(l string) bool { return strings.HasPrefix(l, fmt.Sprintf("+CIPOPEN: %d,", id)) },
	}).Result
}

func simcomSend(t *testing.T, e *at.Engine, text string, id int, data []byte) {
	t.Helper()
	r := do(t, e, at.Command{Text: text, Payload: data,
		Await: func(l string) bool { return strings.HasPrefix(l, fmt.Sprintf("+CIPSEND: %d,", id)) }})
	assert.Equal(t, fmt.Sprintf("+CIPSEND: %d,%d,%d", id, len(data), len(data)), r.Result)
}

func TestSIMComBringUp(t *testing.T) {
	_, e := start(t, atsim.Config{Dialect: atsim.DialectSIMCom}, at.Options{})
	run(t, e, "ATE0")
	r := run(t, e, "ATI")
	assert.Contains(t, r.Lines, "Model: SIMCOM_SIM7600E-H")
	assert.Equal(t, []string{"SIMCOM_SIM7600E-H"}, run(t, e, "AT+CGMM").Lines)
	assert.Equal(t, []string{"+CPIN: READY"}, run(t, e, "AT+CPIN?").Lines)
	run(t, e, "AT+CEREG=2")
	assert.Equal(t, []string{`+CEREG: 2,1,"1A2B","01C2D3E4",7`}, run(t, e, "AT+CEREG?").Lines)
	assert.Equal(t, []string{"+NETOPEN: 0"}, run(t, e, "AT+NETOPEN?").Lines)
	fails(t, e, "AT+IPADDR")
	r = do(t, e, at.Command{Text: "AT+NETOPEN", Await: func(l string) bool { return strings.HasPrefix(l, "+NETOPEN:") }})
	assert.Equal(t, "+NETOPEN: 0", r.Result)
	_, err := e.Do(t.Context(), at.Command{Text: "AT+NETOPEN", Timeout: guard})
	require.ErrorIs(t, err, at.ErrError, "already open")
	assert.Equal(t, []string{"+IPADDR: 10.0.0.2"}, run(t, e, "AT+IPADDR").Lines)
	assert.Equal(t, "+CIPOPEN: 0,1", cipopen(t, e, 0, refusedPort(t)))
}

func TestSIMComPush(t *testing.T) {
	for _, tt := range []struct {
		name, setup, prefix string
	}{
		{"+IPD header", "AT", "+IPD"},
		{"+RECEIVE header", "AT+CIPCCFG=10,0,0,0,1,0,75000", "+RECEIVE,0,"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := newPeer(t)
			_, e := simcomUp(t, atsim.Config{}, tt.setup)
			got := make(chan []byte, 16)
			require.NoError(t, e.HandleURC(at.URC{Prefix: tt.prefix, Line: func(l string) int {
				if tt.prefix == "+IPD" {
					n, _ := strconv.Atoi(strings.TrimPrefix(l, "+IPD"))
					return n
				}
				return lastInt(l)
			}, Data: func(_ string, d []byte) { got <- d }}))
			closed := watch(t, e, "+IPCLOSE:")
			require.Equal(t, "+CIPOPEN: 0,0", cipopen(t, e, 0, p.port()))
			conn := p.accepted(t)
			data := bytes.Repeat(allBytes(), 8)
			for off := 0; off < len(data); off += 1500 {
				chunk := data[off:min(off+1500, len(data))]
				simcomSend(t, e, fmt.Sprintf("AT+CIPSEND=0,%d", len(chunk)), 0, chunk)
			}
			var all []byte
			for len(all) < len(data) {
				all = append(all, recvBytes(t, got)...)
			}
			assert.Equal(t, data, all)
			conn.Close()
			assert.Equal(t, "+IPCLOSE: 0,1", closed.next(t))
			fails(t, e, "AT+CIPSEND=0,1")
		})
	}
}

func TestSIMComManualReceive(t *testing.T) {
	p := newPeer(t)
	_, e := simcomUp(t, atsim.Config{}, "AT+CIPRXGET=1")
	notify := watch(t, e, "+CIPRXGET: 1,")
	require.Equal(t, "+CIPOPEN: 3,0", cipopen(t, e, 3, p.port()))
	simcomSend(t, e, "AT+CIPSEND=3,256", 3, allBytes())
	assert.Equal(t, "+CIPRXGET: 1,3", notify.next(t))
	assert.Equal(t, []string{"+CIPRXGET: 4,3,256"}, run(t, e, "AT+CIPRXGET=4,3").Lines)
	read := func(n int) *at.Response {
		return do(t, e, at.Command{Text: fmt.Sprintf("AT+CIPRXGET=2,3,%d", n), Raw: func(l string) int {
			if strings.HasPrefix(l, "+CIPRXGET: 2,") {
				f := strings.Split(l, ",")
				n, _ := strconv.Atoi(f[2])
				return n
			}
			return 0
		}})
	}
	r := read(200)
	assert.Equal(t, []string{"+CIPRXGET: 2,3,200,56"}, r.Lines)
	got := r.Data
	r = run(t, e, "AT+CIPRXGET=3,3,750")
	require.Len(t, r.Lines, 2)
	assert.Equal(t, "+CIPRXGET: 3,3,56,0", r.Lines[0])
	h, err := hex.DecodeString(r.Lines[1])
	require.NoError(t, err)
	assert.Equal(t, allBytes(), append(got, h...))
	assert.Equal(t, []string{"+CIPRXGET: 2,3,0,0"}, read(100).Lines)
	fails(t, e, "AT+CIPRXGET=2,3,1501")

	simcomSend(t, e, "AT+CIPSEND=3,5", 3, []byte("again"))
	assert.Equal(t, "+CIPRXGET: 1,3", notify.next(t), "notified again once drained")
	r = run(t, e, "AT+CIPCLOSE=3")
	assert.Equal(t, "OK", r.Final)
	p.sawEOF(t)
}

func TestSIMComUDPAndDNS(t *testing.T) {
	u := newUDPEcho(t)
	_, e := simcomUp(t, atsim.Config{Hosts: map[string]string{"broker.example": "127.0.0.1"}}, "AT+CIPRXGET=1")
	assert.Equal(t, []string{`+CDNSGIP: 1,"broker.example","127.0.0.1"`}, run(t, e, `AT+CDNSGIP="broker.example"`).Lines)
	fails(t, e, `AT+CDNSGIP="no-such-host.invalid"`)
	notify := watch(t, e, "+CIPRXGET: 1,")
	r := do(t, e, at.Command{Text: `AT+CIPOPEN=1,"UDP",,,5000`,
		Await: func(l string) bool { return strings.HasPrefix(l, "+CIPOPEN: 1,") }})
	require.Equal(t, "+CIPOPEN: 1,0", r.Result)
	simcomSend(t, e, fmt.Sprintf(`AT+CIPSEND=1,4,"127.0.0.1",%d`, u.port()), 1, []byte("ping"))
	assert.Equal(t, "+CIPRXGET: 1,1", notify.next(t))
	r = do(t, e, at.Command{Text: "AT+CIPRXGET=2,1", Raw: func(l string) int {
		if strings.HasPrefix(l, "+CIPRXGET: 2,") {
			return 4
		}
		return 0
	}})
	assert.Equal(t, "ping", string(r.Data))
}
