package esp

import (
	"strings"
	"testing"
)

// FuzzCWJAP feeds arbitrary module lines to parseCWJAP: nothing panics, an
// SSID holds no control character, and an RSSI is a plausible dBm.
func FuzzCWJAP(f *testing.F) {
	for _, s := range []string{
		`+CWJAP:"lab","aa:bb:cc:dd:ee:ff",6,-52,0,0,0,0,0`,
		`+CWJAP:"a,b\"c","x",1,7`, `+CWJAP:3`, `No AP`, `+CWJAP:`, "+CWJAP:\"\x00\x1b\",,,-300",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		ssid, rssi, ok := parseCWJAP(line)
		if !ok {
			return
		}
		if strings.ContainsFunc(ssid, func(r rune) bool { return r < 0x20 || r == 0x7f }) || len(ssid) > 64 {
			t.Fatalf("ssid %q from %q", ssid, line)
		}
		if rssi > 0 || rssi < -127 {
			t.Fatalf("rssi %d from %q", rssi, line)
		}
	})
}

func TestParseCWJAP(t *testing.T) {
	ssid, rssi, ok := parseCWJAP(`+CWJAP:"iotd-lab","aa:bb:cc:dd:ee:ff",6,-52,0,0,0,0,0`)
	if !ok || ssid != "iotd-lab" || rssi != -52 {
		t.Fatalf("got %q %d %v", ssid, rssi, ok)
	}
	if _, _, ok := parseCWJAP("+CWJAP:3"); ok {
		t.Fatal("a join failure code taken for a network")
	}
}
