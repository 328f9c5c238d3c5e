package modem_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/at/atsim"
	"github.com/iotd/iotd/drivers/at/esp"
	"github.com/iotd/iotd/drivers/at/modem"
	"github.com/iotd/iotd/drivers/at/quectel"
	"github.com/iotd/iotd/drivers/at/simcom"
	"github.com/iotd/iotd/drivers/posix"
)

func TestDriverNames(t *testing.T) {
	r := core.NewRegistry()
	require.NoError(t, modem.RegisterDrivers(r))
	assert.Equal(t, []string{"at", "at.esp", "at.quectel", "at.simcom", "at.ublox"}, r.Names())
	for _, name := range r.Names() {
		d, err := r.Driver(name)
		require.NoError(t, err)
		assert.Equal(t, []driver.Transport{driver.Stream, driver.Datagram}, d.Transports())
	}
	_, err := modem.NewDriver("nokia")
	assert.ErrorContains(t, err, "nokia")
}

func TestConfigDecoding(t *testing.T) {
	d, err := modem.NewDriver(quectel.Name)
	require.NoError(t, err)
	for _, tc := range []struct {
		name, config, errHas string
	}{
		{name: "empty", config: ""},
		{name: "null", config: "null"},
		{name: "all keys", config: `{"port":"/dev/ttyUSB2","baud":921600,"apn":"iot","user":"u","password":"p","pin":"1234",
			"ssid":"lab","wifi_password":"w","registration_timeout":"3m","command_timeout":"2s"}`},
		{name: "unknown key named", config: `{"port":"/dev/ttyUSB2","apnn":"iot"}`, errHas: `unknown key "apnn"`},
		{name: "wrong type names the key", config: `{"baud":"fast"}`, errHas: "baud"},
		{name: "bad duration", config: `{"registration_timeout":"soon"}`, errHas: "duration"},
		{name: "negative baud", config: `{"baud":-1}`, errHas: "baud"},
		{name: "quote in the APN", config: `{"apn":"a\"b"}`, errHas: "apn"},
		{name: "Wi-Fi password without SSID", config: `{"wifi_password":"w"}`, errHas: "ssid"},
		{name: "not an object", config: `[1]`, errHas: "not a JSON object"},
		{name: "trailing data", config: `{} {}`, errHas: "not a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.Open([]byte(tc.config))
			if tc.errHas == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.errHas)
			assert.Contains(t, err.Error(), "at.quectel")
			var ce *core.ConfigError
			assert.ErrorAs(t, err, &ce)
		})
	}
}

// The password and PIN never appear in errors, even when the modem fails.
func TestSecretsNotInErrors(t *testing.T) {
	sim := startSim(t, atsim.Config{Dialect: atsim.DialectESP, WiFi: []atsim.AP{{SSID: "lab", Password: "right one"}}})
	_, err := openModem(t, esp.Name, sim, modem.Config{SSID: "lab", WiFiPassword: "wrong s3cret"})
	require.Error(t, err)
	assert.ErrorIs(t, err, modem.ErrWiFi)
	assert.Contains(t, err.Error(), "wifi_password", "the fix names the key")
	assert.NotContains(t, err.Error(), "s3cret")

	_, err = openModem(t, esp.Name, sim, modem.Config{SSID: "elsewhere", WiFiPassword: "x"})
	assert.ErrorIs(t, err, modem.ErrWiFi)
}

func TestProbe(t *testing.T) {
	sim := startSim(t, atsim.Config{Dialect: atsim.DialectQuectel})
	for _, tc := range []struct {
		dialect string
		skip    bool
	}{
		{quectel.Name, false},
		{modem.Auto, false},
		{simcom.Name, true},
	} {
		t.Run(tc.dialect, func(t *testing.T) {
			d, err := modem.NewDriver(tc.dialect)
			require.NoError(t, err)
			d.ProbePort = sim.Path()
			err = d.Probe(context.Background())
			if tc.skip {
				assert.ErrorIs(t, err, driver.ErrSkip)
				assert.Contains(t, err.Error(), "quectel", "names what it found")
				return
			}
			assert.NoError(t, err)
		})
	}
	d, err := modem.NewDriver(quectel.Name)
	require.NoError(t, err)
	d.ProbePort = "/dev/no-such-modem"
	assert.ErrorIs(t, d.Probe(context.Background()), driver.ErrSkip)
}

// Dialers of one port share the modem; it stays up while one is open.
func TestDialersShareTheModem(t *testing.T) {
	sim := startSim(t, atsim.Config{Dialect: atsim.DialectQuectel})
	d, err := modem.NewDriver(quectel.Name)
	require.NoError(t, err)
	cfg, err := json.Marshal(modem.Config{Port: sim.Path()})
	require.NoError(t, err)
	dl1, err := d.Open(cfg)
	require.NoError(t, err)
	dl2, err := d.Open(cfg)
	require.NoError(t, err)
	echo := newEchoServer(t)
	ctx := context.Background()
	c1, err := dl1.Dial(ctx, driver.Stream, echo.addr())
	require.NoError(t, err)
	c2, err := dl2.Dial(ctx, driver.Stream, echo.addr())
	require.NoError(t, err)
	roundTrip(t, c1, []byte("one"))
	roundTrip(t, c2, []byte("two"))
	m1, _ := dl1.(*modem.Dialer).Modem(ctx)
	m2, _ := dl2.(*modem.Dialer).Modem(ctx)
	assert.Same(t, m1, m2)
	assert.NotEmpty(t, dl1.(*modem.Dialer).Version())
	assert.Contains(t, d.Version(), "on "+sim.Path(), "iotd drivers shows the open modem")
	assert.Contains(t, d.Version(), m1.Info().Model)

	require.NoError(t, dl1.(io.Closer).Close())
	roundTrip(t, c2, []byte("still up"))
	require.NoError(t, dl2.(io.Closer).Close())
	_, err = c2.Read(make([]byte, 1))
	assert.ErrorIs(t, err, driver.ErrBadConn, "the last dialer's close closes the modem")
	_, err = dl1.Dial(ctx, driver.Stream, echo.addr())
	assert.Error(t, err)
	assert.Empty(t, d.Version(), "no modem open")
}

func TestCapabilities(t *testing.T) {
	sim := startSim(t, atsim.Config{Dialect: atsim.DialectQuectel})
	m, err := openModem(t, quectel.Name, sim, modem.Config{})
	require.NoError(t, err)
	echo := newEchoServer(t)
	c := dial(t, m, echo.addr())
	mp, err := driver.Lookup[driver.MaxPayloader](c)
	require.NoError(t, err)
	assert.Equal(t, 1460, mp.MaxPayload())
	sr, err := driver.Lookup[driver.SignalReporter](c)
	require.NoError(t, err)
	sig, err := sr.Signal(context.Background())
	require.NoError(t, err)
	assert.Equal(t, -113+2*20, sig.RSSI, "atsim's default rssi 20")
	v, err := driver.Lookup[driver.Versioner](c)
	require.NoError(t, err)
	assert.NotEmpty(t, v.Version())
}

// TLS runs on the host over a modem socket: posix.TLSConfig.Client wraps
// the AT stream conn and completes a real TLS handshake with a local
// server, through the simulated modem's real TCP socket.
func TestTLSOverModemSocket(t *testing.T) {
	addr, caFile := tlsEchoServer(t)
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			sim := startSim(t, atsim.Config{Dialect: d, Hosts: map[string]string{"localhost": "127.0.0.1"}})
			m, err := openModem(t, d, sim, modem.Config{APN: "internet"})
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), guard)
			defer cancel()
			_, port, _ := net.SplitHostPort(addr)
			raw, err := m.Dial(ctx, driver.Stream, net.JoinHostPort("localhost", port))
			require.NoError(t, err)
			tc, err := posix.TLSConfig{CAFile: caFile}.Client(ctx, raw, "localhost")
			require.NoError(t, err)
			defer tc.Close()
			roundTrip(t, tc, pattern(10<<10, 4))
			// Capabilities of the modem socket stay reachable through TLS.
			_, err = driver.Lookup[driver.SignalReporter](tc)
			assert.NoError(t, err)

			// A server certificate for another name fails the handshake.
			raw2, err := m.Dial(ctx, driver.Stream, addr)
			require.NoError(t, err)
			_, err = posix.TLSConfig{CAFile: caFile}.Client(ctx, raw2, "wrong.example")
			assert.ErrorIs(t, err, driver.ErrHandshake)
		})
	}
}
