package at

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFramerNULRun(t *testing.T) {
	for _, tc := range []struct {
		name  string
		input string
		calls int
		lines []string
	}{
		{name: "a run at a line start", input: "\x00\x00\x00", calls: 1},
		{name: "a longer run fires once", input: "\x00\x00\x00\x00\x00\x00", calls: 1},
		{name: "two runs", input: "\x00\x00\x00\r\nOK\r\n\x00\x00\x00", calls: 2, lines: []string{"OK"}},
		{name: "too short", input: "\x00\x00\r\n\x00", calls: 0},
		{name: "inside a line", input: "AB\x00\x00\x00C\r\n", calls: 0, lines: []string{"ABC"}},
		{name: "broken by a byte", input: "\x00\x00X\x00\r\n", calls: 0, lines: []string{"X"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			var lines []string
			f := framer{
				line:       func(l string) { lines = append(lines, l) },
				wantPrompt: func() bool { return false },
				prompt:     func(byte) {},
				nuls:       func() { calls++ },
			}
			for i := range len(tc.input) { // byte by byte: fragmentation must not matter
				f.feed([]byte{tc.input[i]})
			}
			assert.Equal(t, tc.calls, calls)
			assert.Equal(t, tc.lines, lines)
		})
	}
}
