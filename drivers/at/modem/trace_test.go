package modem_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/at/atsim"
	"github.com/iotd/iotd/drivers/at/modem"
)

// traceRec records a driver's trace.
type traceRec struct {
	mu sync.Mutex
	ev []driver.ATTraceEvent
}

func (r *traceRec) add(e driver.ATTraceEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ev = append(r.ev, e)
}

func (r *traceRec) text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, e := range r.ev {
		dir := "←"
		if e.Out {
			dir = "→"
		}
		b.WriteString(dir + " " + e.Text + "\n")
	}
	return b.String()
}

// driverModem opens the driver's modem on sim with cfg and brings it up.
func driverModem(t *testing.T, d *modem.Driver, sim *atsim.Modem, cfg modem.Config) *modem.Modem {
	t.Helper()
	cfg.Port = sim.Path()
	raw, err := json.Marshal(cfg)
	require.NoError(t, err)
	dl, err := d.Open(raw)
	require.NoError(t, err)
	t.Cleanup(func() { dl.(io.Closer).Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*guard)
	defer cancel()
	m, err := dl.(*modem.Dialer).Modem(ctx)
	require.NoError(t, err)
	require.NoError(t, m.Up(ctx))
	return m
}

// The secrets of the config — the SIM PIN, the APN password, the Wi-Fi
// password — never appear in the trace: not in the bring-up's commands,
// not in their echo, not in a command typed by hand with echo on.
func TestTraceHidesSecrets(t *testing.T) {
	const pin, apnPassword, wifiPassword = "4711", "apn-pa55", "wifi-pa55"
	rows := []struct {
		dialect string
		sim     atsim.Config
		cfg     modem.Config
		byHand  string // a secret command typed with echo on
		secrets []string
	}{
		{dialect: "quectel", sim: atsim.Config{SIM: atsim.SIMPIN, PIN: pin}, cfg: modem.Config{PIN: pin, APN: "cmnet", User: "u", Password: apnPassword},
			byHand: `AT+QICSGP=1,1,"cmnet","u","` + apnPassword + `",3`, secrets: []string{pin, apnPassword}},
		{dialect: "simcom", cfg: modem.Config{APN: "cmnet", User: "u", Password: apnPassword},
			byHand: `AT+CPIN="` + pin + `"`, secrets: []string{apnPassword, `"` + pin}},
		{dialect: "ublox", sim: atsim.Config{APNUser: "u", APNPassword: apnPassword}, cfg: modem.Config{APN: "private.apn", User: "u", Password: apnPassword},
			byHand: `AT+UAUTHREQ=1,3,"` + apnPassword + `","u"`, secrets: []string{apnPassword}},
		{dialect: "esp", cfg: modem.Config{SSID: "lab", WiFiPassword: wifiPassword},
			byHand: `AT+CWJAP="lab","` + wifiPassword + `"`, secrets: []string{wifiPassword}},
	}
	for _, row := range rows {
		t.Run(row.dialect, func(t *testing.T) {
			row.sim.Dialect = row.dialect
			sim := startSim(t, row.sim)
			d, err := modem.NewDriver(row.dialect)
			require.NoError(t, err)
			var rec traceRec
			stop := d.ATTrace("", rec.add)
			defer stop()
			m := driverModem(t, d, sim, row.cfg)
			ctx, cancel := context.WithTimeout(context.Background(), guard)
			defer cancel()
			rep, err := d.ATCommand(ctx, "", "ATE1", 0)
			require.NoError(t, err)
			assert.Equal(t, "OK", rep.Final)
			_, _ = m.Command(ctx, row.byHand, 0) // the answer does not matter
			_, err = m.Command(ctx, "ATE0", 0)
			require.NoError(t, err)

			all := rec.text()
			for _, s := range row.secrets {
				assert.NotContains(t, all, s)
			}
			name, _, _ := strings.Cut(row.byHand, "=")
			assert.Contains(t, all, "→ "+name+"=<hidden>\n")
			assert.Contains(t, all, "← "+name+"=<hidden>\n", "the echo, with echo on")
			assert.Contains(t, all, "→ ATE1\n")
		})
	}
}

// The trace follows the modem: a listener sees the bring-up of a modem
// opened after it started listening, each event with its port; stopping
// it turns the engine's tracer off, and the config's "trace" writes the
// same to the log.
func TestTraceFromBringUp(t *testing.T) {
	sim := startSim(t, atsim.Config{Dialect: atsim.DialectQuectel})
	d, err := modem.NewDriver("quectel")
	require.NoError(t, err)
	var rec traceRec
	stop := d.ATTrace(sim.Path(), rec.add)
	driverModem(t, d, sim, modem.Config{APN: "cmnet"})
	stop()
	all := rec.text()
	assert.Contains(t, all, "→ \"\\x1b\\r\"\n", "the ESC the sync writes")
	assert.Contains(t, all, "→ ATE0\n← ATE0\n← OK\n", "the echo, still on")
	assert.Contains(t, all, "→ AT+CGMM\n← BG96\n← OK\n")
	rec.mu.Lock()
	for _, e := range rec.ev {
		assert.Equal(t, sim.Path(), e.Port)
	}
	n := len(rec.ev)
	rec.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	_, err = d.ATCommand(ctx, sim.Path(), "AT+CSQ", 0)
	require.NoError(t, err)
	rec.mu.Lock()
	assert.Len(t, rec.ev, n, "nothing after stop")
	rec.mu.Unlock()
}

// The config's "trace" writes the trace to the log at info level, with
// the secrets hidden, and with nobody listening.
func TestTraceConfigSwitch(t *testing.T) {
	sim := startSim(t, atsim.Config{Dialect: atsim.DialectESP})
	d, err := modem.NewDriver("esp")
	require.NoError(t, err)
	var buf syncBuffer
	d.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	driverModem(t, d, sim, modem.Config{SSID: "lab", WiFiPassword: "wifi-pa55", Trace: true})
	log := buf.String()
	assert.Contains(t, log, `msg="at trace" driver=at.esp port=`+sim.Path())
	assert.Contains(t, log, `line="→ AT+GMR"`)
	assert.Contains(t, log, `line="→ AT+CWJAP=<hidden>"`)
	assert.NotContains(t, log, "wifi-pa55")

	// Off by default.
	sim2 := startSim(t, atsim.Config{Dialect: atsim.DialectESP})
	var buf2 syncBuffer
	d2, err := modem.NewDriver("esp")
	require.NoError(t, err)
	d2.Logger = slog.New(slog.NewTextHandler(&buf2, &slog.HandlerOptions{Level: slog.LevelDebug}))
	driverModem(t, d2, sim2, modem.Config{SSID: "lab"})
	assert.NotContains(t, buf2.String(), "at trace")
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
