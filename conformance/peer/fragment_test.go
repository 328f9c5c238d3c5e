package peer

import (
	"bytes"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fragRelay starts a stream peer and a fragmenting relay in front of it.
func fragRelay(t *testing.T, f Fragmentation) *StreamRelay {
	t.Helper()
	s, err := NewStream(nil, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	r, err := NewStreamRelay(s.Addr(), f)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, r.Close()) })
	return r
}

func dialCmd(t *testing.T, addr string, cmd Command) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(20*time.Second)))
	_, err = c.Write(cmd.Line())
	require.NoError(t, err)
	return c
}

func TestStreamRelayEchoesByteExact(t *testing.T) {
	r := fragRelay(t, Fragmentation{MaxChunk: 3, Pause: 0.01, Seed: 7})
	c := dialCmd(t, r.Addr(), Command{Op: OpEcho})
	msg := make([]byte, 20<<10)
	for i := range msg {
		msg[i] = byte(i * 7)
	}
	go func() { _, _ = c.Write(msg) }()
	got := make([]byte, len(msg))
	_, err := io.ReadFull(c, got)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(msg, got), "echo through the relay differs")
}

// An orderly close passes through as EOF after all the data; an abortive
// one as a reset.
func TestStreamRelayPassesCloses(t *testing.T) {
	r := fragRelay(t, Fragmentation{Seed: 1})
	got, err := io.ReadAll(dialCmd(t, r.Addr(), Command{Op: OpChargen, N: 5000}))
	require.NoError(t, err, "CHARGEN then FIN reads to EOF")
	require.Len(t, got, 5000)
	for i, b := range got {
		require.Equal(t, Pattern(i), b, "byte %d", i)
	}
	_, err = io.ReadAll(dialCmd(t, r.Addr(), Command{Op: OpRST}))
	assert.True(t, errors.Is(err, syscall.ECONNRESET), "RST through the relay: %v", err)
}

// With a pause after every piece, the reader sees the stream in pieces.
func TestStreamRelayFragments(t *testing.T) {
	r := fragRelay(t, Fragmentation{MaxChunk: 4, Pause: 1, PauseFor: 20 * time.Millisecond, Seed: 3})
	c := dialCmd(t, r.Addr(), Command{Op: OpChargen, N: 32})
	reads, total := 0, 0
	buf := make([]byte, 64)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			reads++
			total += n
		}
		if err != nil {
			require.ErrorIs(t, err, io.EOF)
			break
		}
	}
	assert.Equal(t, 32, total)
	assert.GreaterOrEqual(t, reads, 2, "32 bytes in pieces of at most 4 with pauses arrived in one read")
}

func TestFragmentationValidate(t *testing.T) {
	tests := []struct {
		name string
		f    Fragmentation
		ok   bool
	}{
		{"defaults", Fragmentation{}, true},
		{"negative chunk", Fragmentation{MaxChunk: -1}, false},
		{"negative pause", Fragmentation{PauseFor: -time.Millisecond}, false},
		{"pause above 1", Fragmentation{Pause: 1.5}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.f.Validate()
			assert.Equal(t, tt.ok, err == nil, "%v", err)
			if !tt.ok {
				_, err := NewStreamRelay("127.0.0.1:1", tt.f)
				assert.Error(t, err)
			}
		})
	}
}
