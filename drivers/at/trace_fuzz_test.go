package at

import (
	"strings"
	"testing"
)

// FuzzTraceText feeds module lines to what a trace makes of them: a line
// is shown without raw control bytes and cut to its limit, and a secret
// command's text keeps nothing after its name.
func FuzzTraceText(f *testing.F) {
	for _, s := range []string{`AT+CPIN="1234"`, `at+cwjap="lab","pw"`, "+CSQ: 20,99", "\x1b\r\x00\xff", strings.Repeat("A", 600), "AT", "AT+X?", "AT\xff=\xfe1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		c := clip(line)
		if strings.ContainsFunc(c, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("clip(%q) = %q holds a control byte", line, c)
		}
		if len(c) > 4*traceMaxText+32 {
			t.Fatalf("clip(%q) is %d bytes", line, len(c))
		}
		h := hideArgs(line)
		name := commandName(line)
		if rest, ok := strings.CutPrefix(h, name); !ok || (rest != "" && !strings.HasSuffix(rest, "<hidden>")) || len(rest) > len("=<hidden>") {
			t.Fatalf("hideArgs(%q) = %q", line, h)
		}
	})
}
