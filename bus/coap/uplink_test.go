package coap

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	gmsg "github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/core/linkstate"
)

var dataTopic = testPID + "/" + testDN + "/data"

func okResponder(h *stubHub, r rcvd) [][]byte {
	if r.auth != h.currentToken() {
		return [][]byte{h.ack(r, codes.Unauthorized, nil)}
	}
	return [][]byte{h.ack(r, codes.Content, []byte("ok:"+string(r.payload)))}
}

func (h *stubHub) currentToken() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.token
}

func TestAuthAndPublish(t *testing.T) {
	h := startStub(t, okResponder)
	d := startDevice(t, h.addr(), fastConfig())

	require.NoError(t, publish(t, d, dataTopic, []byte(`{"t":1}`)))

	all := h.received()
	require.NotEmpty(t, all)
	auth := all[0]
	assert.Equal(t, gmsg.Confirmable, auth.typ)
	assert.Equal(t, []string{testPID + "/" + testDN + "/txauth9w0BAQsFA"}, auth.paths)
	assert.Equal(t, "0", auth.needRsp)
	assert.Empty(t, auth.auth)
	require.Len(t, auth.payload, 16, "the C SDK's 16 bytes: 21010406;{connId}, NUL, 0x00")
	assert.Regexp(t, `^21010406;[A-Za-z0-9]{5}\x00\x00$`, string(auth.payload))

	pubs := h.publishes()
	require.Len(t, pubs, 1)
	p := pubs[0]
	assert.Equal(t, gmsg.Confirmable, p.typ)
	assert.Equal(t, []string{dataTopic}, p.paths, "the whole topic in one Uri-Path option")
	assert.Equal(t, "TOKEN00001", p.auth)
	assert.Equal(t, "0", p.needRsp)
	assert.Equal(t, `{"t":1}`, string(p.payload))
	assert.Len(t, p.token, 4, "the C SDK's token length")
	assert.Len(t, auth.token, 4)
	assert.Equal(t, auth.mid+1, p.mid, "message ids increment")

	st := d.uplink.Status()
	assert.Equal(t, linkstate.Connected, st.State.State)
	assert.False(t, st.ConnectedSince.IsZero())
	assert.Equal(t, int64(2), st.Counters.Requests)
	assert.Equal(t, int64(0), st.Counters.Retransmissions)
}

func TestNeedResponse(t *testing.T) {
	h := startStub(t, okResponder)
	cfg := fastConfig()
	d := startDevice(t, h.addr(), cfg)
	ota := "$ota/report/" + testPID + "/" + testDN
	rows := []struct {
		name    string
		topic   string
		payload string
		meta    string
		want    string
	}{
		{"default", dataTopic, "x", "", "0"},
		{"metadata 1", dataTopic, "x", "1", "1"},
		{"metadata 0", dataTopic, "x", "0", "0"},
		{"ota report_version", ota, `{"type":"report_version","report":{"version":"1.0.0"}}`, "", "1"},
		{"ota progress", ota, `{"type":"report_progress","report":{"progress":{"state":"done"}}}`, "", "0"},
	}
	for i, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			m := message.NewMessage(watermill.NewUUID(), []byte(row.payload))
			m.Metadata.Set(bus.MetaTopic, row.topic)
			if row.meta != "" {
				m.Metadata.Set(MetaNeedResponse, row.meta)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			rep, err := d.bus.Request(ctx, bus.TopicUplinkPublish, m)
			require.NoError(t, err)
			assert.Equal(t, "ok:"+row.payload, string(rep.Payload), "the response payload comes back in the reply")
			pubs := h.publishes()
			require.Len(t, pubs, i+1)
			assert.Equal(t, row.want, pubs[i].needRsp)
		})
	}
}

func TestSeparateResponse(t *testing.T) {
	rows := []struct {
		name    string
		accept  codes.Code // code of the ACK that accepts the request
		typ     gmsg.Type  // type of the separate response
		needRsp bool
	}{
		{"2.03 then CON", codes.Valid, gmsg.Confirmable, true},
		{"2.03 then NON", codes.Valid, gmsg.NonConfirmable, true},
		{"empty ACK then CON", codes.Empty, gmsg.Confirmable, true},
		{"2.03 without need-response ends the exchange", codes.Valid, gmsg.Confirmable, false},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			var h *stubHub
			h = startStub(t, func(h *stubHub, r rcvd) [][]byte {
				var tok []byte
				if row.accept != codes.Empty {
					tok = r.token
				}
				ack := h.msg(gmsg.Acknowledgement, row.accept, r.mid, tok, nil)
				if r.needRsp == "0" {
					return [][]byte{ack} // nothing follows
				}
				return [][]byte{ack, h.msg(row.typ, codes.Content, 0x7000, r.token, []byte("later"))}
			})
			cfg := fastConfig()
			cfg.NeedResponse = row.needRsp
			cfg.ResponseTimeout = time.Minute // longer than the request may wait
			d := startDevice(t, h.addr(), cfg)
			m := message.NewMessage(watermill.NewUUID(), []byte("x"))
			m.Metadata.Set(bus.MetaTopic, dataTopic)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			rep, err := d.bus.Request(ctx, bus.TopicUplinkPublish, m)
			require.NoError(t, err)
			if row.needRsp {
				assert.Equal(t, "later", string(rep.Payload))
				assert.Equal(t, int64(1), d.uplink.Status().Counters.Separate)
			} else {
				assert.Empty(t, rep.Payload)
			}
			if row.needRsp && row.typ == gmsg.Confirmable {
				waitFor(t, "the empty ACK of the CON response", func() bool {
					for _, r := range h.received() {
						if r.typ == gmsg.Acknowledgement && r.code == codes.Empty && r.mid == 0x7000 {
							return true
						}
					}
					return false
				})
			}
		})
	}
}

func TestReauthOn401(t *testing.T) {
	var mu sync.Mutex
	refused := false
	h := startStub(t, func(h *stubHub, r rcvd) [][]byte {
		mu.Lock()
		defer mu.Unlock()
		if !refused {
			// The token expires: the hub hands out a new one at the next auth.
			refused = true
			h.mu.Lock()
			h.token = "TOKEN00002"
			h.mu.Unlock()
		}
		return okResponder(h, r)
	})
	d := startDevice(t, h.addr(), fastConfig())
	require.NoError(t, publish(t, d, dataTopic, []byte("x")))

	pubs := h.publishes()
	require.Len(t, pubs, 2)
	assert.Equal(t, "TOKEN00001", pubs[0].auth)
	assert.Equal(t, "TOKEN00002", pubs[1].auth)
	assert.Equal(t, 2, h.authCount())
	st := d.uplink.Status()
	assert.Equal(t, int64(1), st.Counters.Reauths)
	assert.Equal(t, linkstate.Connected, st.State.State)
}

func TestRefusals(t *testing.T) {
	rows := []struct {
		name string
		code codes.Code
		want string
	}{
		{"forbidden", codes.Forbidden, "coap: POST " + dataTopic + ": the hub answered 4.03 (forbidden: the device may not publish to this topic; check the topic's permissions)"},
		{"too large", codes.RequestEntityTooLarge, "coap: POST " + dataTopic + ": the hub answered 4.13 (request entity too large: make the payload smaller)"},
		{"401 twice", codes.Unauthorized, "coap: POST " + dataTopic + ": the hub answered 4.01 (unauthorized: the auth token is invalid or expired)"},
		{"server error", codes.InternalServerError, "coap: POST " + dataTopic + ": the hub answered 5.00: boom"},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			h := startStub(t, func(h *stubHub, r rcvd) [][]byte {
				var p []byte
				if row.code == codes.InternalServerError {
					p = []byte("boom")
				}
				return [][]byte{h.ack(r, row.code, p)}
			})
			d := startDevice(t, h.addr(), fastConfig())
			err := publish(t, d, dataTopic, []byte("x"))
			require.Error(t, err)
			assert.Equal(t, "publish "+dataTopic+": "+row.want, err.Error())
			assert.Equal(t, int64(1), d.uplink.Status().Counters.Refused)
		})
	}
}

func TestRetransmission(t *testing.T) {
	var mu sync.Mutex
	seen := 0
	h := startStub(t, func(h *stubHub, r rcvd) [][]byte {
		mu.Lock()
		defer mu.Unlock()
		seen++
		if seen <= 2 {
			return nil // lost
		}
		return okResponder(h, r)
	})
	d := startDevice(t, h.addr(), fastConfig())
	require.NoError(t, publish(t, d, dataTopic, []byte("x")))
	pubs := h.publishes()
	require.GreaterOrEqual(t, len(pubs), 3, "two lost, the third answered")
	for _, p := range pubs[1:] {
		assert.Equal(t, pubs[0].raw, p.raw, "a retransmission is the same datagram")
	}
	assert.Equal(t, int64(len(pubs)-1), d.uplink.Status().Counters.Retransmissions)
}

func TestTimeoutEndsDeadSession(t *testing.T) {
	h := startStub(t, func(*stubHub, rcvd) [][]byte { return nil })
	cfg := fastConfig()
	cfg.MaxRetransmit = 1

	d := startDevice(t, h.addr(), cfg)
	err := publish(t, d, dataTopic, []byte("x"))
	require.Error(t, err)
	assert.Equal(t, "publish "+dataTopic+": coap: no response to POST "+dataTopic+" after 2 transmissions (coap.ack_timeout 200ms, coap.max_retransmit 1)", err.Error())
	// The dead channel ended the session; the link redialled, authenticated
	// again and sent the publish once more before giving up on it.
	assert.Len(t, h.publishes(), 4)
	assert.GreaterOrEqual(t, h.authCount(), 2)
	st := d.uplink.Status()
	assert.Equal(t, int64(2), st.Counters.Timeouts)
	assert.Contains(t, st.LastError, "coap: channel dead: 1 exchanges in a row got no answer")
}

func TestDuplicatesAndJunkCounted(t *testing.T) {
	h := startStub(t, func(h *stubHub, r rcvd) [][]byte {
		good := h.ack(r, codes.Content, []byte("ok"))
		return [][]byte{
			{0xff, 0x00}, // not CoAP
			h.ack(rcvd{mid: r.mid + 100, token: r.token}, codes.Content, nil),   // stray message id
			h.msg(gmsg.NonConfirmable, codes.Content, 9, []byte("nobody"), nil), // stray token
			h.msg(gmsg.Confirmable, codes.GET, 10, []byte{1}, nil),              // a request to the device
			good,
			good, // duplicate
		}
	})
	d := startDevice(t, h.addr(), fastConfig())
	for i := range 3 {
		require.NoError(t, publish(t, d, dataTopic, []byte(fmt.Sprint(i))))
	}
	waitFor(t, "the last duplicate to be counted", func() bool { return d.uplink.Status().Counters.Duplicates == 9 })
	st := d.uplink.Status()
	assert.Equal(t, int64(6), st.Counters.Malformed)
	assert.Equal(t, linkstate.Connected, st.State.State)
	assert.Len(t, h.publishes(), 3, "nothing was retransmitted")
	waitFor(t, "the resets of the requests to the device", func() bool {
		n := 0
		for _, r := range h.received() {
			if r.typ == gmsg.Reset && r.mid == 10 {
				n++
			}
		}
		return n == 3
	})
}

func TestFloodKeepsWorking(t *testing.T) {
	h := startStub(t, func(h *stubHub, r rcvd) [][]byte {
		out := make([][]byte, 0, 201)
		for i := range 200 {
			out = append(out, h.msg(gmsg.Acknowledgement, codes.Content, r.mid+uint16(i)+1, nil, nil))
		}
		return append(out, h.ack(r, codes.Content, nil))
	})
	d := startDevice(t, h.addr(), fastConfig())
	require.NoError(t, publish(t, d, dataTopic, []byte("a")))
	require.NoError(t, publish(t, d, dataTopic, []byte("b")))
	assert.Equal(t, linkstate.Connected, d.uplink.Status().State.State)
}

func TestTooLargeRefusedBeforeSending(t *testing.T) {
	h := startStub(t, okResponder)
	cfg := fastConfig()
	cfg.MaxPayload = 100
	d := startDevice(t, h.addr(), cfg)
	err := publish(t, d, dataTopic, []byte(strings.Repeat("x", 80)))
	require.Error(t, err)
	assert.Regexp(t, `^publish `+dataTopic+`: coap: message too large: POST `+dataTopic+`: the message is \d+ bytes \(payload 80 plus \d+ of header and options\); the limit is 100 \(coap\.max_payload\)$`, err.Error())
	assert.Empty(t, h.publishes())
	assert.Equal(t, int64(1), d.uplink.Status().Counters.TooLarge)
	require.NoError(t, publish(t, d, dataTopic, []byte("small")), "the channel keeps working")
}

func TestSubscriptions(t *testing.T) {
	h := startStub(t, func(h *stubHub, r rcvd) [][]byte {
		if r.needRsp == "1" {
			return [][]byte{h.ack(r, codes.Content, []byte(`{"type":"update_firmware","version":"2.0.0"}`))}
		}
		return [][]byte{h.ack(r, codes.Content, nil)}
	})
	d := startDevice(t, h.addr(), fastConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	_, err := d.bus.CloudSubscribe(ctx, testPID+"/"+testDN+"/control", 0)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the CoAP channel has no downlink")

	update := "$ota/update/" + testPID + "/" + testDN
	ch, err := d.bus.CloudSubscribe(ctx, update, 1)
	require.NoError(t, err)
	assert.Equal(t, []string{update}, d.uplink.Status().Subscriptions)

	report := "$ota/report/" + testPID + "/" + testDN
	require.NoError(t, d.bus.CloudPublish(ctx, report, []byte(`{"type":"report_version","report":{"version":"1.0.0"}}`), 1))
	select {
	case m := <-ch:
		m.Ack()
		assert.Equal(t, update, m.Metadata.Get(bus.MetaTopic))
		assert.Equal(t, `{"type":"update_firmware","version":"2.0.0"}`, string(m.Payload))
	case <-ctx.Done():
		require.FailNow(t, "the response was not delivered on the update topic")
	}
}

func TestOrderAndNoLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	h := startStub(t, okResponder)
	d := startDevice(t, h.addr(), fastConfig())
	for i := range 5 {
		require.NoError(t, publish(t, d, dataTopic, []byte(fmt.Sprint(i))))
	}
	var got []string
	for _, p := range h.publishes() {
		got = append(got, string(p.payload))
	}
	assert.Equal(t, []string{"0", "1", "2", "3", "4"}, got, "in order")
	d.stop()
	waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before+1 }) // the stub's server
}

// A hub that silently lost the session (a NAT rebinding, a restarted hub)
// answers nothing on it: after one full retransmission schedule the
// session ends, and the publish goes out again, and through, on the next.
func TestDeadSessionRecoveredByRedial(t *testing.T) {
	var mu sync.Mutex
	var first string // the source address of the first session
	h := startStub(t, func(h *stubHub, r rcvd) [][]byte {
		mu.Lock()
		defer mu.Unlock()
		if first == "" {
			first = r.from.String()
		}
		if r.from.String() == first {
			return nil
		}
		return okResponder(h, r)
	})
	cfg := fastConfig()
	cfg.MaxRetransmit = 2
	d := startDevice(t, h.addr(), cfg)
	require.NoError(t, publish(t, d, dataTopic, []byte("x")))
	pubs := h.publishes()
	require.GreaterOrEqual(t, len(pubs), 4, "3 transmissions on the dead session, then the new one")
	mu.Lock()
	defer mu.Unlock()
	for i, p := range pubs {
		assert.Equal(t, i < 3, p.from.String() == first, "transmission %d", i)
	}
	assert.Equal(t, 2, h.authCount())
	st := d.uplink.Status()
	assert.Equal(t, int64(1), st.Counters.Timeouts)
	assert.Equal(t, linkstate.Connected, st.State.State)
}
