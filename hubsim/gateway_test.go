package hubsim

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gwClient is a gateway connected with paho that sends operations and
// reads their results.
type gwClient struct {
	t       *testing.T
	cl      pahoClient
	pid, dn string
	results chan gatewayResult
}

func newGWClient(t *testing.T, h *Hub, pid, dn string) *gwClient {
	t.Helper()
	g := &gwClient{t: t, cl: connectKey(t, h, tlsConn(t, h, caConfig(t, h)), pid, dn), pid: pid, dn: dn,
		results: make(chan gatewayResult, 16)}
	tok := g.cl.Subscribe("$gateway/operation/result/"+pid+"/"+dn, 1, func(_ pahoClient, m paho.Message) {
		var r gatewayResult
		if json.Unmarshal(m.Payload(), &r) == nil {
			g.results <- r
		}
	})
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
	return g
}

// op sends one operation and returns its result.
func (g *gwClient) op(typ string, devs ...gatewayDevice) gatewayResult {
	g.t.Helper()
	req := map[string]any{"type": typ, "payload": map[string]any{"devices": devs}}
	b, err := json.Marshal(req)
	require.NoError(g.t, err)
	tok := g.cl.Publish("$gateway/operation/"+g.pid+"/"+g.dn, 0, false, b)
	require.True(g.t, tok.WaitTimeout(10*time.Second))
	select {
	case r := <-g.results:
		require.Equal(g.t, typ, r.Type)
		return r
	case <-time.After(10 * time.Second):
		g.t.Fatalf("no %s result", typ)
		return gatewayResult{}
	}
}

// code sends one operation for one device and returns its result code.
func (g *gwClient) code(typ string, d gatewayDevice) int {
	g.t.Helper()
	r := g.op(typ, d)
	require.Len(g.t, r.Payload.Devices, 1)
	require.NotNil(g.t, r.Payload.Devices[0].Result)
	assert.Equal(g.t, d.ProductID, r.Payload.Devices[0].ProductID)
	assert.Equal(g.t, d.DeviceName, r.Payload.Devices[0].DeviceName)
	return *r.Payload.Devices[0].Result
}

func bindEntry(d Device, key string) gatewayDevice {
	const random, ts = 12345, 1700000000
	auth := "psk"
	if d.AuthMode == AuthCert {
		auth = "certificate"
	}
	return gatewayDevice{ProductID: d.ProductID, DeviceName: d.DeviceName, Random: random, Timestamp: ts,
		SignMethod: "hmacsha1", AuthType: auth, Signature: GatewaySignature(key, d.ProductID, d.DeviceName, random, ts)}
}

func ref(d Device) gatewayDevice {
	return gatewayDevice{ProductID: d.ProductID, DeviceName: d.DeviceName}
}

func TestGatewayOperations(t *testing.T) {
	h := startHub(t, "")
	mk := func(pid, dn, mode string) Device {
		d, err := h.Store().CreateDevice(pid, dn, mode)
		require.NoError(t, err)
		return d
	}
	mk("PGW0000001", "gw", AuthKey)
	mk("PGW0000001", "gw2", AuthKey)
	keySub := mk("PSUB000001", "k1", AuthKey)
	certSub := mk("PSUB000002", "c1", AuthCert)
	other := mk("PSUB000001", "k2", AuthKey)
	certSum := md5.Sum([]byte(certSub.CertPEM))
	certKey := hex.EncodeToString(certSum[:])

	g := newGWClient(t, h, "PGW0000001", "gw")
	g2 := newGWClient(t, h, "PGW0000001", "gw2")

	wrong := bindEntry(keySub, "not-the-secret")
	unknown := ref(Device{ProductID: "PSUB000001", DeviceName: "nobody"})
	tests := []struct {
		name string
		gw   *gwClient
		op   string
		dev  gatewayDevice
		want int
	}{
		{"online before bind", g, "online", ref(keySub), GatewayNotBound},
		{"bind wrong signature", g, "bind", wrong, GatewayBadSignature},
		{"bind key device", g, "bind", bindEntry(keySub, keySub.Secret), GatewayOK},
		{"bind again is fine", g, "bind", bindEntry(keySub, keySub.Secret), GatewayOK},
		{"bind cert device with the secret text fails", g, "bind", bindEntry(certSub, "x"), GatewayBadSignature},
		{"bind cert device", g, "bind", bindEntry(certSub, certKey), GatewayOK},
		{"bind unknown device", g, "bind", unknown, GatewayUnknownSubDevice},
		{"bind the gateway itself", g, "bind", ref(Device{ProductID: "PGW0000001", DeviceName: "gw"}), GatewayInvalid},
		{"bind bad sign method", g, "bind", func() gatewayDevice { d := bindEntry(other, other.Secret); d.SignMethod = "md5"; return d }(), GatewayInvalid},
		{"bind to a second gateway", g2, "bind", bindEntry(keySub, keySub.Secret), GatewayBoundElsewhere},
		{"online through a second gateway", g2, "online", ref(keySub), GatewayBoundElsewhere},
		{"online", g, "online", ref(keySub), GatewayOK},
		{"offline", g, "offline", ref(keySub), GatewayOK},
		{"unbind from a second gateway", g2, "unbind", ref(certSub), GatewayNotBound},
		{"unbind", g, "unbind", ref(certSub), GatewayOK},
		{"unbind again", g, "unbind", ref(certSub), GatewayNotBound},
		{"empty entry", g, "online", gatewayDevice{}, GatewayInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.gw.code(tt.op, tt.dev))
		})
	}

	r := g.op("describe_sub_devices")
	require.Len(t, r.Payload.Devices, 1)
	assert.Equal(t, "k1", r.Payload.Devices[0].DeviceName)
	assert.Nil(t, r.Payload.Devices[0].Result)

	views, err := NewClient(h.AdminURL()).SubDevices(context.Background(), "PGW0000001", "gw")
	require.NoError(t, err)
	assert.Equal(t, []SubDeviceView{{ProductID: "PSUB000001", DeviceName: "k1"}}, views)
	_, err = NewClient(h.AdminURL()).SubDevices(context.Background(), "PGW0000001", "nope")
	assert.ErrorContains(t, err, "HTTP 404")
}

func TestGatewayACLAndTopologyPersist(t *testing.T) {
	dir := t.TempDir()
	h := startHub(t, dir)
	_, err := h.Store().CreateDevice("PGW0000002", "gw", AuthKey)
	require.NoError(t, err)
	sub, err := h.Store().CreateDevice("PSUB000003", "s1", AuthKey)
	require.NoError(t, err)
	unbound, err := h.Store().CreateDevice("PSUB000003", "s2", AuthKey)
	require.NoError(t, err)
	g := newGWClient(t, h, "PGW0000002", "gw")

	got := make(chan string, 16)
	subscribe := func(filter string) byte {
		tok := g.cl.Subscribe(filter, 1, func(_ pahoClient, m paho.Message) { got <- string(m.Payload()) })
		require.True(t, tok.WaitTimeout(10*time.Second))
		return tok.(interface{ Result() map[string]byte }).Result()[filter]
	}
	publish := func(topic, payload string) {
		tok := g.cl.Publish(topic, 1, false, payload)
		require.True(t, tok.WaitTimeout(10*time.Second))
		require.NoError(t, tok.Error())
	}
	next := func() string {
		select {
		case p := <-got:
			return p
		case <-time.After(10 * time.Second):
			t.Fatal("nothing delivered")
			return ""
		}
	}

	assert.Equal(t, byte(0x80), subscribe("PSUB000003/s2/control"), "unbound sub-device's topic")
	require.Equal(t, GatewayOK, g.code("bind", bindEntry(sub, sub.Secret)))
	assert.Equal(t, byte(1), subscribe("PSUB000003/s1/control"), "bound, offline: subscribing is allowed")

	// Offline: nothing is delivered, and a publish for the sub-device
	// closes the gateway's connection.
	require.NoError(t, h.Publish("PSUB000003/s1/control", []byte("while offline"), 1))
	publishRefused(t, g.cl, "PSUB000003/s1/event", 1, "denied")
	recs := h.Messages("PGW0000002", "gw")
	assert.True(t, recs[len(recs)-1].Denied)
	assert.Empty(t, upRecords(h.Messages("PSUB000003", "s1")))

	g = newGWClient(t, h, "PGW0000002", "gw")
	assert.Equal(t, byte(1), subscribe("PSUB000003/s1/control"), "the binding outlives the connection")
	require.Equal(t, GatewayOK, g.code("online", ref(sub)))
	require.NoError(t, h.Publish("PSUB000003/s1/control", []byte("while online"), 1))
	assert.Equal(t, "while online", next(), "the offline message was never delivered")
	publish("PSUB000003/s1/event", "allowed")
	up := upRecords(h.Messages("PSUB000003", "s1"))
	require.Len(t, up, 1)
	assert.Equal(t, "allowed", up[0].Payload)
	publishRefused(t, g.cl, "PSUB000003/s2/event", 1, "not bound")
	assert.Empty(t, upRecords(h.Messages("PSUB000003", "s2")))
	_ = unbound
	waitFor(t, "sub-device offline with its gateway's connection", func() bool {
		v, err := NewClient(h.AdminURL()).SubDevices(context.Background(), "PGW0000002", "gw")
		return err == nil && len(v) == 1 && !v[0].Online
	})

	g = newGWClient(t, h, "PGW0000002", "gw")
	assert.Equal(t, byte(1), subscribe("PSUB000003/s1/control"))
	require.Equal(t, GatewayOK, g.code("online", ref(sub)))
	// Offline again: access ends.
	require.Equal(t, GatewayOK, g.code("offline", ref(sub)))
	require.NoError(t, h.Publish("PSUB000003/s1/control", []byte("offline again"), 1))
	require.Equal(t, GatewayOK, g.code("online", ref(sub)))
	require.NoError(t, h.Publish("PSUB000003/s1/control", []byte("online again"), 1))
	assert.Equal(t, "online again", next())

	// The gateway disconnecting takes its sub-devices offline.
	g.cl.Disconnect(100)
	waitFor(t, "sub-device offline", func() bool {
		v, err := NewClient(h.AdminURL()).SubDevices(context.Background(), "PGW0000002", "gw")
		return err == nil && len(v) == 1 && !v[0].Online
	})

	// The binding survives a restart; the online state does not.
	require.NoError(t, h.Close())
	h2 := startHub(t, dir)
	views, err := NewClient(h2.AdminURL()).SubDevices(context.Background(), "PGW0000002", "gw")
	require.NoError(t, err)
	assert.Equal(t, []SubDeviceView{{ProductID: "PSUB000003", DeviceName: "s1"}}, views)
}

func upRecords(recs []Record) []Record {
	var out []Record
	for _, r := range recs {
		if r.Direction == Up {
			out = append(out, r)
		}
	}
	return out
}

func TestParseGatewayRequest(t *testing.T) {
	tests := []struct {
		name, in, wantErr string
	}{
		{"online", `{"type":"online","payload":{"devices":[{"product_id":"P","device_name":"d"}]}}`, ""},
		{"describe", `{"type":"describe_sub_devices"}`, ""},
		{"unknown type", `{"type":"reboot"}`, `type "reboot"`},
		{"not json", `{`, "not a JSON gateway request"},
		{"devices not an array", `{"type":"online","payload":{"devices":{}}}`, "not a JSON gateway request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseGatewayRequest([]byte(tt.in))
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalid)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func FuzzParseGatewayRequest(f *testing.F) {
	f.Add([]byte(`{"type":"bind","payload":{"devices":[{"product_id":"P","device_name":"d","signature":"x","random":1,"timestamp":2}]}}`))
	f.Add([]byte(`{"type":"describe_sub_devices"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := parseGatewayRequest(b)
		if err == nil && req.Type == "" {
			t.Fatal("accepted a request without a type")
		}
		for _, d := range req.Payload.Devices {
			_ = topicDevices(d.ProductID + "/" + d.DeviceName)
		}
	})
}
