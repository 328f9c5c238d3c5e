package daemon

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/drivers/at/atsim"
	"github.com/iotd/iotd/localapi"
)

// The AT modem through the local API, while iotd's own TLS session runs
// over it: the status shows the modem, a trace streams the line with the
// APN password hidden, and one command runs between iotd's own.
func TestATModemThroughTheAPI(t *testing.T) {
	sim, _, r := daemonOverSim(t, atsim.Config{Dialect: "quectel"}, "apn: cmnet, user: u, password: apn-pa55")
	st := r.waitStatus(t, "connected over the modem", func(st localapi.Status) bool {
		return connected(st) && len(st.Modems) == 1 && st.Modems[0].Operator != ""
	})
	m := st.Modems[0]
	assert.Equal(t, "at.quectel", m.Driver)
	assert.Equal(t, sim.Path(), m.Port)
	assert.Equal(t, "BG96", m.Model)
	assert.Equal(t, "89860012345678901234", m.ICCID)
	assert.Equal(t, "home", m.Registration)
	assert.Equal(t, -73, m.RSSI)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var mu sync.Mutex
	var events []localapi.ATTraceEvent
	tctx, tcancel := context.WithCancel(ctx)
	traced := make(chan error, 1)
	go func() {
		traced <- localapi.Each(r.client.ATTrace(tctx, ""), func(e localapi.ATTraceEvent) error {
			mu.Lock()
			events = append(events, e)
			mu.Unlock()
			return nil
		})
	}()
	// The stream is on once it carries the first command.
	var res localapi.ATSendResult
	require.Eventually(t, func() bool {
		var err error
		res, err = r.client.ATSend(ctx, localapi.ATSendRequest{Command: "AT+CSQ"})
		require.NoError(t, err)
		mu.Lock()
		defer mu.Unlock()
		for _, e := range events {
			if e.Out && e.Text == "AT+CSQ" {
				return true
			}
		}
		return false
	}, 10*time.Second, 50*time.Millisecond)
	assert.Equal(t, []string{"+CSQ: 20,99"}, res.Lines)
	assert.Equal(t, "OK", res.Final)
	assert.Empty(t, res.Error)
	assert.Equal(t, "at.quectel", res.Driver)

	res, err := r.client.ATSend(ctx, localapi.ATSendRequest{Command: "AT+NOSUCH"})
	require.NoError(t, err)
	assert.Equal(t, "+CME ERROR: 4", res.Final, "the module's answer with AT+CMEE=1: operation not supported")
	assert.Contains(t, res.Error, "+CME ERROR: 4")
	res, err = r.client.ATSend(ctx, localapi.ATSendRequest{Command: "AT+QISEND=0,5"})
	require.NoError(t, err)
	assert.Contains(t, res.Error, "data prompt")
	_, err = r.client.ATSend(ctx, localapi.ATSendRequest{Port: "/dev/nonesuch", Command: "AT"})
	assert.ErrorContains(t, err, "no modem open on /dev/nonesuch")

	// A typed secret command is hidden too.
	_, err = r.client.ATSend(ctx, localapi.ATSendRequest{Command: `AT+QICSGP=1,1,"cmnet","u","apn-pa55",3`})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(events) > 0 && strings.HasPrefix(events[len(events)-1].Text, "OK")
	}, 5*time.Second, 20*time.Millisecond)
	tcancel()
	require.NoError(t, <-traced)

	mu.Lock()
	defer mu.Unlock()
	var all strings.Builder
	for _, e := range events {
		assert.Equal(t, sim.Path(), e.Port)
		assert.False(t, e.Time.IsZero())
		all.WriteString(e.Text + "\n")
	}
	assert.NotContains(t, all.String(), "apn-pa55")
	assert.Contains(t, all.String(), "AT+QICSGP=<hidden>\n")
	assert.Contains(t, all.String(), "+CSQ: 20,99\n")
	assert.NotContains(t, r.log.String(), "at trace", "the config's trace is off")
	assert.NotContains(t, r.log.String(), "apn-pa55")
}

// The driver config's "trace" writes the trace to the daemon's log.
func TestATTraceInTheLog(t *testing.T) {
	_, _, r := daemonOverSim(t, atsim.Config{Dialect: "esp"}, "ssid: lab, wifi_password: wifi-pa55, trace: true")
	r.waitStatus(t, "connected over the modem", connected)
	log := r.log.String()
	assert.Contains(t, log, `msg="at trace"`)
	assert.Contains(t, log, `line="→ AT+CWJAP=<hidden>"`)
	assert.Contains(t, log, `line="→ AT+CIPSEND=`)
	assert.Contains(t, log, `line="→ <`, "payloads as hex")
	assert.NotContains(t, log, "wifi-pa55")
}
