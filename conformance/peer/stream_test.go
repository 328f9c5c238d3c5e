package peer

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func startStream(t *testing.T) *Stream {
	t.Helper()
	s, err := NewStream(nil, nil)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s
}

// command dials s and sends cmd.
func command(t *testing.T, s *Stream, cmd Command) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", s.Addr())
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	require.NoError(t, conn.SetDeadline(time.Now().Add(20*time.Second)))
	_, err = conn.Write(cmd.Line())
	require.NoError(t, err)
	return conn
}

func TestStreamEcho(t *testing.T) {
	s := startStream(t)
	for _, cmd := range []Command{{Op: OpEcho}, {Op: OpDelay, N: 20}} {
		t.Run(cmd.String(), func(t *testing.T) {
			conn := command(t, s, cmd)
			_, err := conn.Write([]byte("hello"))
			require.NoError(t, err)
			got := make([]byte, 5)
			_, err = io.ReadFull(conn, got)
			require.NoError(t, err)
			assert.Equal(t, "hello", string(got))
			// Closing our side makes the peer close with FIN.
			require.NoError(t, conn.(*net.TCPConn).CloseWrite())
			_, err = conn.Read(got)
			assert.Equal(t, io.EOF, err)
		})
	}
}

func TestStreamFINAndChargen(t *testing.T) {
	s := startStream(t)
	conn := command(t, s, Command{Op: OpFIN})
	got, err := io.ReadAll(conn)
	require.NoError(t, err)
	assert.Empty(t, got)

	const n = 70000
	conn = command(t, s, Command{Op: OpChargen, N: n})
	got, err = io.ReadAll(conn)
	require.NoError(t, err)
	require.Len(t, got, n)
	for i, b := range got {
		require.Equal(t, Pattern(i), b, "byte %d", i)
	}
}

func TestStreamResets(t *testing.T) {
	s := startStream(t)
	for _, line := range []string{"RST\n", "NO SUCH COMMAND\n"} {
		conn, err := net.Dial("tcp", s.Addr())
		require.NoError(t, err)
		require.NoError(t, conn.SetDeadline(time.Now().Add(20*time.Second)))
		_, err = conn.Write([]byte(line))
		require.NoError(t, err)
		_, err = io.ReadAll(conn)
		assert.ErrorIs(t, err, syscall.ECONNRESET, "after %q", line)
		conn.Close()
	}
}

func TestStreamDiscardAndHold(t *testing.T) {
	s := startStream(t)
	for _, op := range []Op{OpDiscard, OpHold} {
		t.Run(string(op), func(t *testing.T) {
			conn := command(t, s, Command{Op: op})
			_, err := conn.Write([]byte("dropped"))
			require.NoError(t, err)
			require.NoError(t, conn.SetReadDeadline(time.Now().Add(100*time.Millisecond)))
			_, err = conn.Read(make([]byte, 8))
			assert.ErrorIs(t, err, os.ErrDeadlineExceeded, "nothing comes back")
		})
	}
	// HOLD conns are closed by Close, which must not hang.
}

func TestTLSSet(t *testing.T) {
	set, err := NewTLSSet(nil)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, set.Close()) })
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(set.CAPEM))

	tests := []struct {
		name  string
		peer  *Stream
		check func(t *testing.T, err error)
	}{
		{"good", set.Good, func(t *testing.T, err error) { assert.NoError(t, err) }},
		{"expired", set.Expired, func(t *testing.T, err error) {
			var e x509.CertificateInvalidError
			require.ErrorAs(t, err, &e)
			assert.Equal(t, x509.Expired, e.Reason)
		}},
		{"wrong name", set.WrongName, func(t *testing.T, err error) {
			var e x509.HostnameError
			assert.ErrorAs(t, err, &e)
		}},
		{"untrusted", set.Untrusted, func(t *testing.T, err error) {
			var e x509.UnknownAuthorityError
			assert.ErrorAs(t, err, &e)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tls.Dialer{Config: &tls.Config{RootCAs: roots, ServerName: "localhost"}}
			conn, err := d.DialContext(t.Context(), "tcp", tt.peer.Addr())
			tt.check(t, err)
			if err != nil {
				return
			}
			defer conn.Close()
			require.NoError(t, conn.SetDeadline(time.Now().Add(20*time.Second)))
			_, err = conn.Write(append(Command{Op: OpEcho}.Line(), "tls!"...))
			require.NoError(t, err)
			got := make([]byte, 4)
			_, err = io.ReadFull(conn, got)
			require.NoError(t, err)
			assert.Equal(t, "tls!", string(got))
		})
	}
}
