package simcom

import (
	"strings"
	"testing"

	"github.com/iotd/iotd/drivers/at"
)

// FuzzResultURC feeds arbitrary module lines to simcomResult, which tells
// a two-phase command's result URC ("+CIPOPEN: 0,0") from the lines of the
// read command a sweep may be running meanwhile: nothing panics, and a
// line taken as link id's result has exactly the id and one number.
func FuzzResultURC(f *testing.F) {
	for _, s := range []string{
		"+CIPOPEN: 0,\"TCP\",\"1.2.3.4\",80,-1\n+CIPOPEN: 1\n+CIPOPEN: 2,4",
		"+CIPOPEN: 0,0\n+CIPOPEN:1,4\n+CIPOPEN: 11,x\n+CIPOPEN: \"0\",\"x\"",
		"+CIPCLOSE: 0,0\n+CIPOPEN: ,\n+CIPOPEN",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		for _, l := range strings.Split(in, "\n") {
			for _, id := range []string{"0", "1", "11"} {
				if simcomResult(l, "+CIPOPEN", id) {
					a := at.SplitArgs(l, "+CIPOPEN")
					if _, num := at.ArgInt(a, 1); len(a) != 2 || a[0] != id || !num {
						t.Fatalf("simcomResult took %q for link %s", l, id)
					}
				}
			}
		}
	})
}
