package websocket_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/posix"
	"github.com/iotd/iotd/drivers/websocket"
)

// carrier is a stream driver that records the configuration it is
// opened with; it refuses {"tag":"no"}.
type carrier struct {
	name   string
	opened chan []byte
}

func (c carrier) Name() string                   { return c.name }
func (c carrier) Transports() []driver.Transport { return []driver.Transport{driver.Stream} }
func (c carrier) Probe(context.Context) error    { return nil }
func (c carrier) Open(config []byte) (driver.Dialer, error) {
	if string(config) == `{"tag":"no"}` {
		return nil, errors.New("carrier: config: tag no")
	}
	select {
	case c.opened <- config:
	default:
	}
	return nil, nil
}

// configRegistry holds a "tls" and a "tcp" that record their config, and
// the datagram-only "udp".
func configRegistry(t testing.TB) (reg *core.Registry, tls, tcp carrier) {
	reg = core.NewRegistry()
	tls, tcp = carrier{"tls", make(chan []byte, 1)}, carrier{"tcp", make(chan []byte, 1)}
	for _, d := range []driver.Driver{tls, tcp, posix.NewUDP()} {
		require.NoError(t, reg.Register(d))
	}
	return reg, tls, tcp
}

func TestOpenConfig(t *testing.T) {
	const known = "(known keys: headers, over, over_config, path, subprotocol)"
	rows := []struct {
		name    string
		config  string
		wantErr string // exact text; "" means accepted
	}{
		{"empty", ``, ""},
		{"null", `null`, ""},
		{"empty object", ` {} `, ""},
		{"all keys", `{"over":"tcp","over_config":{"keepalive":"1s"},"path":"/mqtt?x=1","subprotocol":"mqttv3.1","headers":{"X-Trace":"1","Host":"hub:443"}}`, ""},
		{"daemon shape", `{"over":"tls","over_config":{"ca_file":"ca.pem"},"path":"/","subprotocol":"mqtt"}`, ""},
		{"unknown key", `{"pth":"/"}`, `websocket: config: unknown key "pth" ` + known},
		{"key in wrong case", `{"Path":"/"}`, `websocket: config: unknown key "Path" ` + known},
		{"not an object", `[1]`, "websocket: config: not a JSON object: json: cannot unmarshal array into Go value of type map[string]json.RawMessage"},
		{"trailing data", `{} {}`, "websocket: config: not a JSON object: invalid character '{' after top-level value"},
		{"wrong type", `{"path":1}`, "websocket: config: path: want string, got JSON number"},
		{"header wrong type", `{"headers":{"X":1}}`, "websocket: config: headers: want string, got JSON number"},
		{"carries itself", `{"over":"websocket"}`, `websocket: config: over: "websocket" cannot carry itself: name a stream driver (tls, tcp, at.quectel, ...)`},
		{"unknown carrier", `{"over":"nope"}`, `websocket: config: over: core: unknown driver "nope" (registered: tcp, tls, udp)`},
		{"datagram carrier", `{"over":"udp"}`, `websocket: config: over: driver "udp" offers no stream transport`},
		{"carrier refuses its config", `{"over_config":{"tag":"no"}}`, `websocket: over tls: carrier: config: tag no`},
		{"relative path", `{"path":"mqtt"}`, `websocket: config: path: "mqtt" is not a request path: use one that starts with "/", such as "/" (the C SDK) or "/mqtt"`},
		{"authority path", `{"path":"//hub/mqtt"}`, `websocket: config: path: "//hub/mqtt" is not a request path: use one that starts with "/", such as "/" (the C SDK) or "/mqtt"`},
		{"path with fragment", `{"path":"/mqtt#x"}`, `websocket: config: path: "/mqtt#x" holds a fragment (#), which is never sent`},
		{"path with a line break", `{"path":"/\r\nX: y"}`, `websocket: config: path: "/\r\nX: y" is not a request path: use one that starts with "/", such as "/" (the C SDK) or "/mqtt"`},
		{"subprotocol not a token", `{"subprotocol":"mq tt"}`, "websocket: config: subprotocol: \"mq tt\" is not an HTTP token (letters, digits and !#$%&'*+-.^_`|~)"},
		{"handshake header", `{"headers":{"sec-websocket-protocol":"mqtt"}}`, `websocket: config: headers.sec-websocket-protocol: set by the WebSocket handshake itself; for the subprotocol use the subprotocol key`},
		{"bad header name", `{"headers":{"X Y":"1"}}`, `websocket: config: headers.X Y: not a valid header name`},
		{"header value with a line break", `{"headers":{"X":"1\r\nY: 2"}}`, `websocket: config: headers.X: the value holds a control character (a line break?)`},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			reg, _, _ := configRegistry(t)
			dl, err := websocket.NewIn(reg).Open([]byte(row.config))
			if row.wantErr == "" {
				require.NoError(t, err)
				assert.NotNil(t, dl)
				return
			}
			require.Error(t, err)
			assert.Nil(t, dl)
			assert.Equal(t, row.wantErr, err.Error())
		})
	}
}

// The carrier is "tls" unless over names another, and over_config
// reaches it untouched.
func TestOverConfigReachesTheCarrier(t *testing.T) {
	reg, tls, tcp := configRegistry(t)
	_, err := websocket.NewIn(reg).Open([]byte(`{"over_config":{"ca_file":"ca.pem"}}`))
	require.NoError(t, err)
	assert.JSONEq(t, `{"ca_file":"ca.pem"}`, string(<-tls.opened))

	_, err = websocket.NewIn(reg).Open([]byte(`{"over":"tcp"}`))
	require.NoError(t, err)
	assert.Empty(t, <-tcp.opened, "no over_config: the carrier's defaults")
}

// Config errors are *core.ConfigError, which the daemon reports as a
// configuration mistake.
func TestConfigErrorsAreConfigErrors(t *testing.T) {
	reg, _, _ := configRegistry(t)
	for _, config := range []string{`{"x":1}`, `{"path":"x"}`, `{"over":"nope"}`} {
		_, err := websocket.NewIn(reg).Open([]byte(config))
		var ce *core.ConfigError
		assert.True(t, errors.As(err, &ce), "%s: want *core.ConfigError, got %T", config, err)
	}
}

// A Config marshals to JSON the driver opens: the shape the daemon sends.
func TestConfigRoundTrip(t *testing.T) {
	reg, tls, _ := configRegistry(t)
	raw, err := json.Marshal(websocket.Config{Over: "tls", OverConfig: json.RawMessage(`{"ca_file":"ca.pem"}`), Path: "/mqtt", Subprotocol: "mqtt"})
	require.NoError(t, err)
	_, err = websocket.NewIn(reg).Open(raw)
	require.NoError(t, err)
	assert.JSONEq(t, `{"ca_file":"ca.pem"}`, string(<-tls.opened))
}

// FuzzOpenConfig: no configuration makes Open panic, and one that fails
// says so with an error that begins with the driver's name.
func FuzzOpenConfig(f *testing.F) {
	for _, s := range []string{``, `null`, `{}`, `{"over":"tcp","path":"/mqtt"}`, `{"headers":{"Host":"h:1"}}`,
		`{"path":"/a b?c=d"}`, `{"subprotocol":""}`, `{"over_config":[1]}`, `{"headers":null}`, `{"path":"%zz"}`} {
		f.Add([]byte(s))
	}
	reg, _, _ := configRegistry(f)
	drv := websocket.NewIn(reg)
	f.Fuzz(func(t *testing.T, config []byte) {
		_, err := drv.Open(config)
		if err != nil {
			assert.Regexp(t, `^websocket: `, err.Error())
		}
	})
}
