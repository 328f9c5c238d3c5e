package peer

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUDPEcho(t *testing.T) {
	u, err := NewUDPEcho()
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, u.Close()) })
	conn, err := net.Dial("udp", u.Addr())
	require.NoError(t, err)
	defer conn.Close()
	buf := make([]byte, 2048)
	for _, msg := range []string{"a", "datagram two"} {
		var n int
		for try := 0; try < 3; try++ { // loopback loss is rare, not impossible
			_, err = conn.Write([]byte(msg))
			require.NoError(t, err)
			require.NoError(t, conn.SetReadDeadline(time.Now().Add(time.Second)))
			if n, err = conn.Read(buf); err == nil {
				break
			}
		}
		require.NoError(t, err)
		assert.Equal(t, msg, string(buf[:n]))
	}
}
