package posix_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/nettest"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/posix"
)

// streamCase is one stream driver with a matching loopback server.
type streamCase struct {
	name  string
	drv   driver.Driver
	start func(t *testing.T) (*server, driver.Dialer)
}

func streamCases() []streamCase {
	return []streamCase{
		{
			name: "tcp",
			drv:  posix.NewTCP(),
			start: func(t *testing.T) (*server, driver.Dialer) {
				return listen(t, nil), open(t, posix.NewTCP(), posix.TCPConfig{KeepAlive: posix.Duration(30 * time.Second)})
			},
		},
		{
			name: "tls",
			drv:  posix.NewTLS(),
			start: func(t *testing.T) (*server, driver.Dialer) {
				p := newPKI(t)
				return listen(t, p.serverTLS()), open(t, posix.NewTLS(), posix.TLSConfig{CAFile: p.caFile})
			},
		},
	}
}

// dialPair dials the case's server and returns client and server ends.
func dialPair(t *testing.T, tc streamCase) (driver.Conn, net.Conn) {
	t.Helper()
	srv, dl := tc.start(t)
	c, err := dl.Dial(testCtx(t), driver.Stream, srv.addr())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c, srv.accept(t)
}

// rawTCP returns the TCP socket under a server-side connection.
func rawTCP(t *testing.T, c net.Conn) *net.TCPConn {
	t.Helper()
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	tcp, ok := c.(*net.TCPConn)
	require.True(t, ok, "server conn is %T", c)
	return tcp
}

func TestStreamNettest(t *testing.T) {
	for _, tc := range streamCases() {
		t.Run(tc.name, func(t *testing.T) {
			nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
				srv, dl := tc.start(t)
				c, err := dl.Dial(context.Background(), driver.Stream, srv.addr())
				if err != nil {
					return nil, nil, nil, err
				}
				select {
				case s := <-srv.conns:
					return c, s, func() { c.Close(); s.Close() }, nil
				case err := <-srv.errs:
					c.Close()
					return nil, nil, nil, err
				}
			})
		})
	}
}

func TestStreamEOFAndReset(t *testing.T) {
	for _, tc := range streamCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Run("orderly close is io.EOF after the data", func(t *testing.T) {
				c, s := dialPair(t, tc)
				_, err := s.Write([]byte("hello"))
				require.NoError(t, err)
				require.NoError(t, s.Close())
				got, err := readAll(c)
				assert.Equal(t, "hello", string(got))
				assert.Equal(t, io.EOF, err, "want exactly io.EOF, got %v", err)
			})
			t.Run("RST is ErrReset on read and write", func(t *testing.T) {
				c, s := dialPair(t, tc)
				raw := rawTCP(t, s)
				require.NoError(t, raw.SetLinger(0))
				require.NoError(t, raw.Close())
				_, err := readAll(c)
				assert.ErrorIs(t, err, driver.ErrReset)
				assert.NotErrorIs(t, err, io.EOF)
				_, err = c.Write([]byte("after reset"))
				assert.ErrorIs(t, err, driver.ErrReset)
			})
		})
	}
}

func TestStreamDeadlines(t *testing.T) {
	for _, tc := range streamCases() {
		t.Run(tc.name, func(t *testing.T) {
			c, s := dialPair(t, tc)
			buf := make([]byte, 8)

			require.NoError(t, c.SetReadDeadline(time.Now().Add(-time.Second)))
			_, err := c.Read(buf)
			assertTimeout(t, err)

			require.NoError(t, c.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
			_, err = c.Read(buf)
			assertTimeout(t, err)

			// Usable again once the deadline is lifted.
			require.NoError(t, c.SetReadDeadline(time.Time{}))
			_, err = s.Write([]byte("ok"))
			require.NoError(t, err)
			n, err := c.Read(buf)
			require.NoError(t, err)
			assert.Equal(t, "ok", string(buf[:n]))

			require.NoError(t, c.SetWriteDeadline(time.Now().Add(-time.Second)))
			_, err = c.Write([]byte("late"))
			assertTimeout(t, err)
		})
	}
}

func TestStreamCloseUnblocksRead(t *testing.T) {
	for _, tc := range streamCases() {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := dialPair(t, tc)
			assertClosedUnblocks(t, c)
		})
	}
}

func TestStreamAddrsAndCapabilities(t *testing.T) {
	for _, tc := range streamCases() {
		t.Run(tc.name, func(t *testing.T) {
			c, s := dialPair(t, tc)
			require.NotNil(t, c.LocalAddr())
			require.NotNil(t, c.RemoteAddr())
			assert.Equal(t, s.LocalAddr().String(), c.RemoteAddr().String())
			assert.Equal(t, s.RemoteAddr().String(), c.LocalAddr().String())
			_, err := driver.Lookup[driver.MaxPayloader](c)
			assert.ErrorIs(t, err, driver.ErrNotSupported)
			// Lookup sees through the wrappers down to the socket.
			_, err = driver.Lookup[*net.TCPConn](c)
			assert.NoError(t, err)
		})
	}
}

func TestStreamDialErrors(t *testing.T) {
	for _, tc := range streamCases() {
		t.Run(tc.name, func(t *testing.T) {
			dl := open(t, tc.drv, nil)
			cancelled, cancel := context.WithCancel(context.Background())
			cancel()
			rows := []struct {
				name      string
				ctx       context.Context
				transport driver.Transport
				addr      string
				want      error
			}{
				{"refused", testCtx(t), driver.Stream, closedPort(t, "tcp"), driver.ErrRefused},
				{"unresolvable", testCtx(t), driver.Stream, "nonexistent.invalid:443", driver.ErrUnreachable},
				{"datagram not supported", testCtx(t), driver.Datagram, "127.0.0.1:1", driver.ErrNotSupported},
				{"context cancelled", cancelled, driver.Stream, closedPort(t, "tcp"), context.Canceled},
			}
			for _, row := range rows {
				t.Run(row.name, func(t *testing.T) {
					c, err := dl.Dial(row.ctx, row.transport, row.addr)
					require.Error(t, err)
					assert.Nil(t, c)
					assert.ErrorIs(t, err, row.want)
					assert.Contains(t, err.Error(), tc.name+": ")
				})
			}
		})
	}
}

func TestDriverIdentity(t *testing.T) {
	rows := []struct {
		drv  driver.Driver
		name string
		tr   driver.Transport
	}{
		{posix.NewTCP(), "tcp", driver.Stream},
		{posix.NewTLS(), "tls", driver.Stream},
		{posix.NewUDP(), "udp", driver.Datagram},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			assert.Equal(t, row.name, row.drv.Name())
			assert.Equal(t, []driver.Transport{row.tr}, row.drv.Transports())
			assert.NoError(t, row.drv.Probe(context.Background()))
		})
	}
}
