package modem_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/at/atsim"
	"github.com/iotd/iotd/drivers/at/modem"
	"github.com/iotd/iotd/drivers/posix"
)

// Every dialect fills in what `iotd status` shows of the modem, from the
// answers atsim gives as the real modules do.
func TestStatusFields(t *testing.T) {
	rows := []struct {
		dialect string
		cfg     modem.Config
		want    driver.ModemStatus
	}{
		{dialect: "quectel", cfg: modem.Config{APN: "cmnet"}, want: driver.ModemStatus{
			Model: "BG96", Firmware: "BG96MAR02A07M1G", IMEI: "866425030000001", ICCID: "89860012345678901234",
			Operator: "iotd sim", Technology: "LTE Cat-M1", Registration: "home", RSSI: -73}},
		{dialect: "simcom", cfg: modem.Config{APN: "cmnet"}, want: driver.ModemStatus{
			Model: "SIMCOM_SIM7600E-H", Firmware: "LE20B04SIM7600M22", IMEI: "861234050000001", ICCID: "89860012345678901235",
			Operator: "iotd sim", Technology: "LTE", Registration: "home", RSSI: -73}},
		{dialect: "ublox", cfg: modem.Config{APN: "cmnet"}, want: driver.ModemStatus{
			Model: "SARA-R410M-02B", Firmware: "L0.0.00.00.05.12 [Mar 09 2022 17:00:00]", IMEI: "352753090000001", ICCID: "89860012345678901236",
			Operator: "iotd sim", Technology: "LTE", Registration: "home", RSSI: -73, RSRP: -95, RSRQ: -10}},
		{dialect: "esp", cfg: modem.Config{SSID: "lab", WiFiPassword: "pw"}, want: driver.ModemStatus{
			Model: "ESP-AT", SSID: "lab", Technology: "Wi-Fi", Registration: "joined", RSSI: -50}},
	}
	for _, row := range rows {
		t.Run(row.dialect, func(t *testing.T) {
			sim := startSim(t, atsim.Config{Dialect: row.dialect})
			d, err := modem.NewDriver(row.dialect)
			require.NoError(t, err)
			driverModem(t, d, sim, row.cfg)
			ctx, cancel := context.WithTimeout(context.Background(), guard)
			defer cancel()
			sts := d.Modems(ctx, true)
			require.Len(t, sts, 1)
			st := sts[0]
			assert.Equal(t, "at."+row.dialect, st.Driver)
			assert.Equal(t, row.dialect, st.Dialect)
			assert.Equal(t, sim.Path(), st.Port)
			assert.True(t, st.Up)
			assert.Empty(t, st.Error)
			assert.False(t, st.SignalAt.IsZero())
			assert.False(t, st.NetworkAt.IsZero())
			if row.dialect == "esp" {
				assert.NotEmpty(t, st.Firmware, "ESP-AT's AT version")
				row.want.Firmware = st.Firmware
			}
			got := st
			got.Driver, got.Dialect, got.Port, got.Up, got.SignalAt, got.NetworkAt = "", "", "", false, time.Time{}, time.Time{}
			assert.Equal(t, row.want, got)

			// Within the minimum age nothing is asked again.
			before := len(sim.Commands())
			d.Modems(ctx, true)
			assert.Len(t, sim.Commands(), before, "no queries within %v", modem.StatusMinAge)
		})
	}
}

// A refresh that fails keeps the last values, says why, and never holds
// up its caller beyond ctx.
func TestStatusKeepsLastValues(t *testing.T) {
	defer modem.SetStatusMinAge(0)()
	sim := startSim(t, atsim.Config{Dialect: atsim.DialectQuectel})
	d, err := modem.NewDriver("quectel")
	require.NoError(t, err)
	driverModem(t, d, sim, modem.Config{APN: "cmnet", CommandTimeout: modem.Duration(300 * time.Millisecond)})
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	first := d.Modems(ctx, true)[0]
	require.Equal(t, "iotd sim", first.Operator)

	require.NoError(t, sim.Inject(atsim.Fault{Kind: atsim.Stall, Duration: 2 * time.Second}))
	short, scancel := context.WithTimeout(ctx, 100*time.Millisecond)
	start := time.Now()
	st := d.Modems(short, true)[0]
	scancel()
	assert.Less(t, time.Since(start), time.Second, "ctx bounds the wait")
	assert.Equal(t, first.Operator, st.Operator)
	assert.Equal(t, first.SignalAt, st.SignalAt, "the last values, with their time")

	require.Eventually(t, func() bool { return d.Modems(ctx, false)[0].Error != "" }, guard, 20*time.Millisecond,
		"the failed query says why")
	st = d.Modems(ctx, false)[0]
	assert.Contains(t, st.Error, "timeout")
	assert.Equal(t, "iotd sim", st.Operator, "the operator query failed: its last value stays")
}

// Status queries go between the socket's commands: a TLS session moving
// data while the status is refreshed again and again loses nothing.
func TestStatusDuringTLS(t *testing.T) {
	defer modem.SetStatusMinAge(0)()
	addr, caFile := tlsEchoServer(t)
	_, port, _ := net.SplitHostPort(addr)

	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			sim := startSim(t, atsim.Config{Dialect: dialect, Hosts: map[string]string{"localhost": "127.0.0.1"}})
			d, err := modem.NewDriver(dialect)
			require.NoError(t, err)
			m := driverModem(t, d, sim, modem.Config{APN: "internet", SSID: "lab"})
			ctx, cancel := context.WithTimeout(context.Background(), 6*guard)
			defer cancel()
			raw, err := m.Dial(ctx, driver.Stream, net.JoinHostPort("localhost", port))
			require.NoError(t, err)
			tc, err := posix.TLSConfig{CAFile: caFile}.Client(ctx, raw, "localhost")
			require.NoError(t, err)
			defer tc.Close()

			// Refresh without pause while the data moves.
			stop, done := make(chan struct{}), make(chan struct{})
			refreshes := 0
			go func() {
				defer close(done)
				for {
					select {
					case <-stop:
						return
					default:
					}
					if st := m.Status(ctx, true); st.Error != "" {
						t.Errorf("refresh %d: %s", refreshes, st.Error)
						return
					}
					refreshes++
				}
			}()
			for i := range 8 {
				roundTrip(t, tc, pattern(4<<10, i))
			}
			close(stop)
			<-done
			assert.Positive(t, refreshes)
			roundTrip(t, tc, pattern(4<<10, 99))
		})
	}
}
