package esp

import (
	"context"
	"fmt"
	"time"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/at"
	"github.com/iotd/iotd/drivers/at/modem"
)

// Status reports the Wi-Fi network the module joined and the access
// point's signal (AT+CWJAP?: "+CWJAP:<ssid>,<bssid>,<channel>,<rssi>,…"
// when joined, "No AP" when not; ESP-AT docs, Wi-Fi AT commands).
func (*esp) Status(ctx context.Context, m *modem.Modem, st *driver.ModemStatus) error {
	r, err := m.Do(ctx, at.Command{Text: "AT+CWJAP?"})
	if err != nil {
		return fmt.Errorf("at: status: %w", err)
	}
	st.Technology = "Wi-Fi"
	st.Registration, st.SSID, st.RSSI = "not joined", "", 0
	for _, l := range r.Lines {
		if ssid, rssi, ok := parseCWJAP(l); ok {
			st.Registration, st.SSID, st.RSSI = "joined", ssid, rssi
			st.SignalAt = time.Now()
		}
	}
	st.NetworkAt = time.Now()
	return nil
}

// parseCWJAP parses the joined access point from AT+CWJAP?'s answer; rssi
// is 0 when the line has none. ok is false for any other line.
func parseCWJAP(line string) (ssid string, rssi int, ok bool) {
	a := at.SplitArgs(line, "+CWJAP")
	if len(a) < 1 || a[0] == "" {
		return "", 0, false
	}
	if _, num := at.ArgInt(a, 0); num && len(a) == 1 {
		return "", 0, false // "+CWJAP:<error code>", a failed join
	}
	if v, good := at.ArgInt(a, 3); good && v < 0 && v >= -127 {
		rssi = v
	}
	return printable(a[0]), rssi, true
}

// printable drops control characters from a module's string and cuts it
// at 64 bytes (an SSID has at most 32).
func printable(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(out) < 64; i++ {
		if c := s[i]; c >= 0x20 && c != 0x7f {
			out = append(out, c)
		}
	}
	return string(out)
}

var _ modem.StatusReporter = (*esp)(nil)
