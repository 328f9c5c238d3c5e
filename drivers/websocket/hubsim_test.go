package websocket_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/url"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/at/atsim"
	_ "github.com/iotd/iotd/drivers/at/builtin" // every dialect
	"github.com/iotd/iotd/drivers/at/modem"
	"github.com/iotd/iotd/drivers/websocket"
	"github.com/iotd/iotd/hubsim"
)

// startHub starts a hubsim whose MQTT listeners are ws and wss only.
func startHub(t *testing.T) *hubsim.Hub {
	t.Helper()
	hub, err := hubsim.Start(context.Background(), hubsim.Config{
		StateDir: t.TempDir(), TLSAddr: hubsim.Off, TCPAddr: hubsim.Off, AdminAddr: hubsim.Off,
		WSAddr: "127.0.0.1:0", WSSAddr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = hub.Close() })
	return hub
}

// wssConfig is the configuration of wss:// (over tls) for a device, the
// tls layer itself running over the driver named over ("" for POSIX TCP).
func wssConfig(t *testing.T, hub *hubsim.Hub, info *core.DeviceInfo, over string, overConfig any) string {
	t.Helper()
	tlsConfig := map[string]any{"ca_file": hub.CAFile()}
	if info.IsCert() {
		tlsConfig["cert_file"], tlsConfig["key_file"] = info.CertFile(), info.KeyFile()
	}
	if over != "" {
		tlsConfig["over"], tlsConfig["over_config"] = over, overConfig
	}
	b, err := json.Marshal(map[string]any{"over": "tls", "over_config": tlsConfig})
	require.NoError(t, err)
	return string(b)
}

// session is a device, the driver configuration it connects with and
// the hub address it dials.
type session struct {
	name   string
	info   *core.DeviceInfo
	config string
	addr   string
}

// mqttSession connects info as an MQTT client through dl to addr, sends a
// QoS 1 publish, waits for its PUBACK and checks that the hub logged it.
func mqttSession(t *testing.T, hub *hubsim.Hub, info *core.DeviceInfo, dl driver.Dialer, addr string, timeout time.Duration) {
	t.Helper()
	cred, err := core.MQTTCredentials(info, core.CredentialOptions{})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	opts := paho.NewClientOptions().AddBroker("tcp://" + addr).
		SetClientID(cred.ClientID).SetUsername(cred.Username).SetPassword(cred.Password).
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectRetry(false).
		SetConnectTimeout(timeout).SetWriteTimeout(timeout).
		SetCustomOpenConnectionFn(func(*url.URL, paho.ClientOptions) (net.Conn, error) {
			return dl.Dial(ctx, driver.Stream, addr)
		})
	cl := paho.NewClient(opts)
	tok := cl.Connect()
	require.True(t, tok.WaitTimeout(timeout), "CONNECT unanswered")
	require.NoError(t, tok.Error(), "CONNECT refused")
	defer cl.Disconnect(100)

	topic := info.ProductID + "/" + info.DeviceName + "/event"
	payload := `{"over":"websocket"}`
	tok = cl.Publish(topic, 1, false, payload)
	require.True(t, tok.WaitTimeout(timeout), "no PUBACK")
	require.NoError(t, tok.Error())
	msgs := hub.Messages(info.ProductID, info.DeviceName)
	require.NotEmpty(t, msgs)
	assert.Equal(t, topic, msgs[len(msgs)-1].Topic)
	assert.Equal(t, payload, msgs[len(msgs)-1].Payload)
}

// A key device over ws:// (over tcp) and a cert device over wss:// (over
// tls, with its client certificate) connect to hubsim and publish.
func TestHubsim(t *testing.T) {
	hub := startHub(t)
	reg := posixRegistry(t)
	key, err := hub.CreateDevice("PWSDRV0001", "key1", false)
	require.NoError(t, err)
	cert, err := hub.CreateDevice("PWSDRV0001", "cert1", true)
	require.NoError(t, err)
	rows := []session{
		{"key device over ws", key, `{"over":"tcp"}`, hub.WSAddr()},
		{"key device over ws, paho's path", key, `{"over":"tcp","path":"/mqtt"}`, hub.WSAddr()},
		{"key device over wss", key, wssConfig(t, hub, key, "", nil), hub.WSSAddr()},
		{"cert device over wss", cert, wssConfig(t, hub, cert, "", nil), hub.WSSAddr()},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			mqttSession(t, hub, row.info, open(t, reg, row.config), row.addr, 15*time.Second)
		})
	}
}

// The hub answers a wss:// dial to its ws:// port, and a plain request
// to its wss:// port, with errors that say what to check.
func TestHubsimWrongPort(t *testing.T) {
	hub := startHub(t)
	reg := posixRegistry(t)
	key, err := hub.CreateDevice("PWSDRV0002", "key1", false)
	require.NoError(t, err)
	_, err = open(t, reg, wssConfig(t, hub, key, "", nil)).Dial(testCtx(t), driver.Stream, hub.WSAddr())
	assert.ErrorIs(t, err, driver.ErrHandshake, "TLS to a plain HTTP port")
	assert.Contains(t, err.Error(), "websocket: dial "+hub.WSAddr()+" over tls: tls: ")
	_, err = open(t, reg, `{"over":"tcp"}`).Dial(testCtx(t), driver.Stream, hub.WSSAddr())
	require.Error(t, err)
	assert.ErrorIs(t, err, driver.ErrHandshake)
	assert.Contains(t, err.Error(), "HTTP 400", "Go's TLS server answers plain HTTP with 400")
	assert.Contains(t, err.Error(), "whether TLS is needed")
}

// Through a modem: the WebSocket runs over the virtual modem's socket
// (ws:// over at.quectel), and TLS over that socket with the WebSocket
// inside (wss:// over tls over at.quectel) for a cert device.
func TestHubsimThroughModem(t *testing.T) {
	hub := startHub(t)
	key, err := hub.CreateDevice("PWSDRV0003", "modem1", false)
	require.NoError(t, err)
	cert, err := hub.CreateDevice("PWSDRV0003", "modem2", true)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim, err := atsim.Start(ctx, atsim.Config{Dialect: "quectel", Seed: 7})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sim.Close() })
	reg := posixRegistry(t)
	require.NoError(t, modem.RegisterDrivers(reg))
	modemConfig := map[string]any{"port": sim.Path(), "apn": "cmnet"}
	ws, err := json.Marshal(websocket.Config{Over: "at.quectel", OverConfig: mustJSON(t, modemConfig)})
	require.NoError(t, err)

	rows := []session{
		{"ws over the modem", key, string(ws), hub.WSAddr()},
		{"wss over tls over the modem", cert, wssConfig(t, hub, cert, "at.quectel", modemConfig), hub.WSSAddr()},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			before := sim.Stats().ByName["AT+QISEND"]
			mqttSession(t, hub, row.info, open(t, reg, row.config), row.addr, 60*time.Second)
			assert.Greater(t, sim.Stats().ByName["AT+QISEND"], before, "the bytes went through the modem's send command")
		})
	}
}

func mustJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}
