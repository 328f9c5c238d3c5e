package peer

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		name, line string
		want       Command
		wantErr    bool
	}{
		{name: "echo", line: "ECHO", want: Command{Op: OpEcho}},
		{name: "crlf tolerated", line: "FIN\r", want: Command{Op: OpFIN}},
		{name: "rst", line: "RST", want: Command{Op: OpRST}},
		{name: "discard", line: "DISCARD", want: Command{Op: OpDiscard}},
		{name: "hold", line: "HOLD", want: Command{Op: OpHold}},
		{name: "delay", line: "DELAY 250", want: Command{Op: OpDelay, N: 250}},
		{name: "chargen", line: "CHARGEN 1048576", want: Command{Op: OpChargen, N: 1 << 20}},
		{name: "chargen zero", line: "CHARGEN 0", want: Command{Op: OpChargen}},
		{name: "lowercase", line: "echo", wantErr: true},
		{name: "unknown", line: "REBOOT", wantErr: true},
		{name: "empty", line: "", wantErr: true},
		{name: "argument on echo", line: "ECHO 1", wantErr: true},
		{name: "missing number", line: "DELAY", wantErr: true},
		{name: "negative", line: "CHARGEN -1", wantErr: true},
		{name: "leading zero", line: "DELAY 010", wantErr: true},
		{name: "plus sign", line: "DELAY +10", wantErr: true},
		{name: "delay too long", line: "DELAY 60001", wantErr: true},
		{name: "chargen too big", line: "CHARGEN 1073741825", wantErr: true},
		{name: "double space", line: "DELAY  5", wantErr: true},
		{name: "too long", line: "DELAY 1" + string(make([]byte, 80)), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCommand(tt.line)
			if tt.wantErr {
				require.Error(t, err)
				assert.ErrorIs(t, err, errCommand)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestCommandLineRoundTrip(t *testing.T) {
	for _, c := range []Command{{Op: OpEcho}, {Op: OpDelay, N: 7}, {Op: OpChargen, N: 99}, {Op: OpHold}} {
		line := c.Line()
		require.Equal(t, byte('\n'), line[len(line)-1])
		got, err := ParseCommand(string(line[:len(line)-1]))
		require.NoError(t, err)
		assert.Equal(t, c, got)
	}
}

// FuzzParseCommand: ParseCommand never panics, and whatever it accepts
// prints back to a line it parses the same way.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"ECHO", "FIN", "RST", "DELAY 10", "CHARGEN 5", "DISCARD", "HOLD", "DELAY x", "", "CHARGEN 99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		c, err := ParseCommand(line)
		if err != nil {
			return
		}
		again, err := ParseCommand(c.String())
		require.NoError(t, err, "re-parse %q", c.String())
		assert.Equal(t, c, again)
		assert.LessOrEqual(t, c.N, MaxChargen)
		assert.GreaterOrEqual(t, c.N, 0)
	})
}
