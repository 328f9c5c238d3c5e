package peer

import (
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sink is a UDP target that records what arrives and answers nothing, so
// that only client-to-target traffic draws from the relay's generator.
func sink(t *testing.T) net.PacketConn {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { pc.Close() })
	return pc
}

// through sends count numbered datagrams through a relay with faults f and
// returns what the sink received, in order.
func through(t *testing.T, f Faults, count int) []string {
	t.Helper()
	target := sink(t)
	r, err := NewRelay(target.LocalAddr().String(), f)
	require.NoError(t, err)
	defer func() { assert.NoError(t, r.Close()) }()
	conn, err := net.Dial("udp", r.Addr())
	require.NoError(t, err)
	defer conn.Close()
	for i := range count {
		_, err := conn.Write(fmt.Appendf(nil, "%03d", i))
		require.NoError(t, err)
		time.Sleep(time.Millisecond) // keep the loopback socket buffers from overflowing
	}
	var got []string
	buf := make([]byte, 64)
	for {
		require.NoError(t, target.SetReadDeadline(time.Now().Add(300*time.Millisecond)))
		n, _, err := target.ReadFrom(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return got
		}
		require.NoError(t, err)
		got = append(got, string(buf[:n]))
	}
}

func TestRelayFaults(t *testing.T) {
	const count = 50
	t.Run("clean link delivers all in order", func(t *testing.T) {
		got := through(t, Faults{}, count)
		require.Len(t, got, count)
		for i, g := range got {
			assert.Equal(t, fmt.Sprintf("%03d", i), g)
		}
	})
	t.Run("full loss delivers nothing", func(t *testing.T) {
		assert.Empty(t, through(t, Faults{Loss: 1}, count))
	})
	t.Run("full duplication delivers everything twice", func(t *testing.T) {
		got := through(t, Faults{Duplicate: 1, Latency: time.Millisecond}, count)
		seen := map[string]int{}
		for _, g := range got {
			seen[g]++
		}
		assert.Len(t, seen, count)
		for k, n := range seen {
			assert.Equal(t, 2, n, "copies of %s", k)
		}
	})
	t.Run("reordering holds datagrams back", func(t *testing.T) {
		got := through(t, Faults{Reorder: 0.3, ReorderDelay: 30 * time.Millisecond, Seed: 3}, count)
		require.Len(t, got, count)
		inOrder := true
		for i := 1; i < len(got); i++ {
			inOrder = inOrder && got[i-1] < got[i]
		}
		assert.False(t, inOrder, "30%% of datagrams delayed by 30 ms between 1 ms sends must overtake")
	})
	t.Run("loss is deterministic for a seed", func(t *testing.T) {
		f := Faults{Loss: 0.4, Seed: 42}
		first := through(t, f, count)
		assert.Less(t, len(first), count)
		assert.NotEmpty(t, first)
		assert.Equal(t, first, through(t, f, count))
		f.Seed = 43
		assert.NotEqual(t, first, through(t, f, count))
	})
}

func TestRelayRoundTrip(t *testing.T) {
	echo, err := NewUDPEcho()
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, echo.Close()) })
	r, err := NewRelay(echo.Addr(), Faults{Latency: 2 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, r.Close()) })
	conn, err := net.Dial("udp", r.Addr())
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Write([]byte("there and back"))
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	buf := make([]byte, 64)
	n, err := conn.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "there and back", string(buf[:n]))
}

func TestFaultsValidate(t *testing.T) {
	tests := []struct {
		name string
		f    Faults
		ok   bool
	}{
		{"zero", Faults{}, true},
		{"all one", Faults{Loss: 1, Duplicate: 1, Reorder: 1}, true},
		{"loss above one", Faults{Loss: 1.5}, false},
		{"negative reorder", Faults{Reorder: -0.1}, false},
		{"negative latency", Faults{Latency: -time.Second}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.f.Validate()
			if tt.ok {
				assert.NoError(t, err)
			} else {
				assert.Error(t, err)
				_, err := NewRelay("127.0.0.1:9", tt.f)
				assert.Error(t, err)
			}
		})
	}
}
