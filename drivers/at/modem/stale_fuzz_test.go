package modem_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/iotd/iotd/drivers/at/modem"
)

// FuzzHeldSocketLines feeds arbitrary module lines to the parsers that
// read which socket ids a module holds (AT+QISTATE?, AT+CIPOPEN?,
// AT+CIPSTATE?, AT+CIPSTATUS, AT+USOCTL): nothing panics, and the ids are
// sorted, distinct and in range.
func FuzzHeldSocketLines(f *testing.F) {
	for _, s := range []string{
		"+QISTATE: 0,\"TCP\",\"1.2.3.4\",80,0,2,1,0,0,\"usbat\"\n+QISTATE: 11,\"UDP\",\"h\",1,2,4,1,11,0,\"uart1\"",
		"+CIPOPEN: 0,\"TCP\",\"1.2.3.4\",80,-1\n+CIPOPEN: 1\n+CIPOPEN: 2,4",
		"+CIPSTATE:0,\"TCP\",\"192.168.1.2\",80,1234,0\nSTATUS:3\n+CIPSTATUS:4,\"UDP\",\"h\",1,2,0",
		"+USOCTL: 3,0,6\n+USOCTL: -1,0,6\n+USOCTL: 99999999999999999999,0,6",
		"+QISTATE:\n+QISTATE: ,,\n+CIPOPEN: \"0\",\"x\"\n+CIPOPEN: 0,0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		lines := strings.Split(in, "\n")
		for _, p := range []string{"+QISTATE", "+CIPOPEN", "+CIPSTATE", "+CIPSTATUS", "+USOCTL"} {
			for _, min := range []int{2, 3} {
				ids := modem.HeldIDs(lines, p, min)
				if !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != len(ids) {
					t.Fatalf("HeldIDs(%q) = %v: not sorted and distinct", p, ids)
				}
				for _, id := range ids {
					if id < 0 || id >= 1<<16 {
						t.Fatalf("HeldIDs(%q) = %v: id out of range", p, ids)
					}
				}
			}
		}
	})
}
