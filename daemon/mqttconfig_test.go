package daemon

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"
	"github.com/iotd/iotd/localapi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// withholder is an MQTT broker that never acknowledges a QoS 1 publish: no
// real broker can be told to, and that is what shows the daemon's inflight
// bound. It records the CONNECT and answers SUBSCRIBE and PINGREQ.
type withholder struct {
	ln net.Listener
	mu sync.Mutex
	// connect is the last CONNECT received.
	connect *packets.ConnectPacket
	// qos1 counts the QoS 1 publishes received on the current connection.
	qos1 int
}

func startWithholder(t *testing.T) *withholder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	w := &withholder{ln: ln}
	var conns sync.WaitGroup
	var open sync.Map
	t.Cleanup(func() {
		_ = ln.Close()
		open.Range(func(c, _ any) bool { _ = c.(net.Conn).Close(); return true })
		conns.Wait()
	})
	conns.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			open.Store(c, nil)
			conns.Go(func() {
				defer open.Delete(c)
				defer c.Close()
				w.serve(c)
			})
		}
	})
	return w
}

func (w *withholder) serve(c net.Conn) {
	for {
		p, err := packets.ReadPacket(c)
		if err != nil {
			return
		}
		var reply packets.ControlPacket
		switch p := p.(type) {
		case *packets.ConnectPacket:
			w.mu.Lock()
			w.connect, w.qos1 = p, 0
			w.mu.Unlock()
			reply = packets.NewControlPacket(packets.Connack)
		case *packets.SubscribePacket:
			ack := packets.NewControlPacket(packets.Suback).(*packets.SubackPacket)
			ack.MessageID, ack.ReturnCodes = p.MessageID, p.Qoss
			reply = ack
		case *packets.PingreqPacket:
			reply = packets.NewControlPacket(packets.Pingresp)
		case *packets.PublishPacket:
			if p.Qos == 1 {
				w.mu.Lock()
				w.qos1++
				w.mu.Unlock()
			}
		case *packets.DisconnectPacket:
			return
		}
		if reply != nil && reply.Write(c) != nil {
			return
		}
	}
}

func (w *withholder) state() (*packets.ConnectPacket, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.connect, w.qos1
}

// The mqtt section reaches the wire: keepalive and clean_session in the
// CONNECT, max_inflight as the number of QoS 1 publishes sent unconfirmed.
func TestMQTTConfigReachesTheUplink(t *testing.T) {
	rows := []struct {
		name         string
		yaml         string
		keepalive    uint16
		cleanSession bool
		inflight     int
	}{
		{"defaults", "", 240, true, 20},
		{"set", "mqtt: {keepalive: 7s, clean_session: false, max_inflight: 2}\n", 7, false, 2},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			w := startWithholder(t)
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "device_info.json"),
				[]byte(`{"auth_mode":"KEY","productId":"PMQTTCFG01","deviceName":"dev1","key_deviceinfo":{"deviceSecret":"c2VjcmV0"}}`), 0o600))
			y := fmt.Sprintf(`device_info: device_info.json
socket: %s
link: {driver: tcp, endpoint: %s, backoff: {initial: 50ms, max: 500ms}}
# Only the test publishes: feature requests queued behind a full window
# would change the queue depth the test counts.
features: {ota: {disabled: true}, timesync: {disabled: true}, shadow: {disabled: true}}
%s`, filepath.Join(dir, "iotd.sock"), w.ln.Addr(), row.yaml)
			p := filepath.Join(dir, "iotd.yaml")
			require.NoError(t, os.WriteFile(p, []byte(y), 0o600))
			cfg, err := LoadConfig(p)
			require.NoError(t, err)
			r := startDaemon(t, cfg)
			r.waitStatus(t, "connected", connected)

			c, _ := w.state()
			require.NotNil(t, c)
			assert.Equal(t, row.keepalive, c.Keepalive)
			assert.Equal(t, row.cleanSession, c.CleanSession)

			total := row.inflight + 3
			ctx, cancel := context.WithCancel(context.Background())
			var pubs sync.WaitGroup
			defer func() { cancel(); pubs.Wait() }()
			for i := range total {
				pubs.Go(func() {
					_, _ = r.client.Publish(ctx, localapi.PublishRequest{Topic: "data", Payload: fmt.Sprint(i), QoS: 1})
				})
			}
			st := r.waitStatus(t, "the window full", func(st localapi.Status) bool {
				return st.Inflight == row.inflight && st.QueueDepth == total-row.inflight
			})
			// Inflight counts what the session handed to the socket; the
			// bytes reach the broker a moment later.
			require.Eventually(t, func() bool { _, n := w.state(); return n >= row.inflight }, 10*time.Second, 10*time.Millisecond)
			_, n := w.state()
			assert.Equal(t, row.inflight, n, "QoS 1 publishes on the wire")
			assert.Equal(t, total-row.inflight, st.QueueDepth)
		})
	}
}
