package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/drivers/at/atsim"
	_ "github.com/iotd/iotd/drivers/at/builtin" // every dialect
	"github.com/iotd/iotd/drivers/at/modem"
	"github.com/iotd/iotd/drivers/posix"
	"github.com/iotd/iotd/drivers/websocket"
	"github.com/iotd/iotd/hubsim"
	"github.com/iotd/iotd/localapi"
)

// startWSHub starts hubsim with its ws and wss listeners on.
func startWSHub(t *testing.T) *hubsim.Hub {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	hub, err := hubsim.Start(ctx, hubsim.Config{
		StateDir: t.TempDir(), TLSAddr: hubsim.Off, TCPAddr: hubsim.Off, AdminAddr: "127.0.0.1:0",
		WSAddr: "127.0.0.1:0", WSSAddr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = hub.Close() })
	return hub
}

// The websocket channel: MQTT over WebSocket with the same auth, queueing
// and features as over TCP, over ws (tcp), wss (tls) and wss through an AT
// modem's sockets.
func TestWebSocketChannelEndToEnd(t *testing.T) {
	hub := startWSHub(t)
	rows := []struct {
		name, pid string
		cert      bool
		link      func(dir string) string // the link and drivers sections
		modem     bool
		listener  string
	}{
		{name: "key device, ws over tcp", pid: "PWS0000001", listener: "ws",
			link: func(string) string {
				return fmt.Sprintf("link:\n  driver: tcp\n  endpoint: %s\n", hub.WSAddr())
			}},
		{name: "cert device, wss over tls, trusting its devCaFile", pid: "PWS0000002", cert: true, listener: "wss",
			link: func(string) string { return fmt.Sprintf("link:\n  endpoint: %s\n", hub.WSSAddr()) }},
		{name: "key device, ws path /mqtt", pid: "PWS0000003", listener: "ws",
			link: func(string) string {
				return fmt.Sprintf("websocket: {path: /mqtt}\nlink:\n  driver: tcp\n  endpoint: %s\n", hub.WSAddr())
			}},
		{name: "key device, wss over tls over a quectel modem", pid: "PWS0000004", listener: "wss", modem: true},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			reg := core.NewRegistry()
			require.NoError(t, reg.Register(posix.NewTCP()))
			require.NoError(t, reg.Register(posix.NewTLSIn(reg)))
			require.NoError(t, reg.Register(websocket.NewIn(reg)))
			dir := deviceDir(t, hub, row.pid, "dev1", row.cert)
			linkYAML := ""
			var sim *atsim.Modem
			if row.modem {
				ctx, cancel := context.WithCancel(context.Background())
				t.Cleanup(cancel)
				var err error
				sim, err = atsim.Start(ctx, atsim.Config{Dialect: "quectel", Seed: 7})
				require.NoError(t, err)
				t.Cleanup(func() { _ = sim.Close() })
				require.NoError(t, modem.RegisterDrivers(reg))
				linkYAML = fmt.Sprintf("drivers:\n  at.quectel: {port: %s, apn: cmnet}\nlink:\n  endpoint: %s\n  driver_config: {ca_file: %s, over: at.quectel}\n",
					sim.Path(), hub.WSSAddr(), hub.CAFile())
			} else {
				linkYAML = row.link(dir)
			}
			y := fmt.Sprintf("device_info: device_info.json\nsocket: %s\nchannel: websocket\n%s", filepath.Join(dir, "iotd.sock"), linkYAML)
			y += "  backoff: {initial: 50ms, max: 500ms}\n"
			p := filepath.Join(dir, "iotd.yaml")
			require.NoError(t, os.WriteFile(p, []byte(y), 0o600))
			cfg, err := LoadConfig(p)
			require.NoError(t, err, y)
			r := startDaemonIn(t, cfg, reg)

			st := r.waitStatus(t, "clock sync over websocket", func(st localapi.Status) bool { return connected(st) && !st.LastSync.IsZero() })
			assert.Equal(t, "websocket", st.Link.Driver)
			assert.Equal(t, "websocket", st.Channel)
			hs := hub.Status(row.pid, "dev1")
			assert.True(t, hs.Connected)
			assert.Equal(t, row.listener, hs.Listener)

			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			rep, err := r.client.Publish(ctx, localapi.PublishRequest{Topic: "event", Payload: `{"via":"websocket"}`, QoS: 1})
			require.NoError(t, err)
			assert.Equal(t, localapi.Acknowledged, rep.Result)
			require.Eventually(t, func() bool {
				for _, m := range hub.Messages(row.pid, "dev1") {
					if m.Topic == rep.Topic && m.Payload == `{"via":"websocket"}` {
						return true
					}
				}
				return false
			}, 10*time.Second, 20*time.Millisecond)
			if sim != nil {
				assert.NotZero(t, sim.Stats().ByName["AT+QISEND"], "the bytes went through the modem's sockets")
			}
		})
	}
}
