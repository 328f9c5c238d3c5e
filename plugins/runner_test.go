package plugins

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func filtered(t testing.TB, in string) (string, string) {
	var logs bytes.Buffer
	f := &stdoutFilter{
		r:   bufio.NewReaderSize(strings.NewReader(in), 64<<10),
		c:   io.NopCloser(nil),
		log: slog.New(slog.NewTextHandler(&logs, nil)),
	}
	out, err := io.ReadAll(f)
	require.NoError(t, err)
	return string(out), logs.String()
}

func TestStdoutFilter(t *testing.T) {
	const hs = "1|1|unix|/tmp/plugin123/plugin.sock|grpc|MIIB\n"
	tests := []struct {
		name, in, out string
		logged        []string
	}{
		{"handshake only", hs, hs, nil},
		{"noise first", "hello\nworld\n" + hs + "after\n", hs + "after\n", []string{"hello", "world"}},
		{"half a handshake is noise", "1|1|tcp|x\n" + hs, hs, []string{"1|1|tcp|x"}},
		{"no handshake", "just noise\n", "", []string{"just noise"}},
		{"no newline at the end", "noise", "", []string{"noise"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, logs := filtered(t, tt.in)
			assert.Equal(t, tt.out, out)
			for _, l := range tt.logged {
				assert.Contains(t, logs, l)
			}
			if tt.logged == nil {
				assert.Empty(t, logs)
			}
		})
	}
}

// FuzzStdoutFilter: whatever a plugin prints, the filter passes on nothing
// before the first handshake line and everything from it on.
func FuzzStdoutFilter(f *testing.F) {
	f.Add("1|1|unix|/tmp/p.sock|grpc|cert\n")
	f.Add("noise\n1|1|tcp|127.0.0.1:1234|grpc\nmore")
	f.Add(strings.Repeat("x", 70<<10) + "\n1|1|unix|/s|netrpc\n")
	f.Fuzz(func(t *testing.T, in string) {
		out, _ := filtered(t, in)
		idx := -1
		for off := 0; off <= len(in); {
			end := strings.IndexByte(in[off:], '\n')
			line := in[off:]
			if end >= 0 {
				line = in[off : off+end+1]
			}
			if handshakeLine.MatchString(line) {
				idx = off
				break
			}
			if end < 0 {
				break
			}
			off += end + 1
		}
		if idx < 0 {
			if out != "" {
				t.Fatalf("passed %q with no handshake line in %q", out, in)
			}
			return
		}
		if !strings.HasSuffix(in, out) || !handshakeLine.MatchString(out) {
			t.Fatalf("passed %q for %q", out, in)
		}
	})
}
