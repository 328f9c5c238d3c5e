package posix

import (
	"net"

	"github.com/iotd/iotd/drivers/posix/internal/neterr"
)

// streamConn is a TCP connection whose Read and Write report resets with
// driver.ErrReset. Everything else is the kernel socket's own behaviour,
// which already meets the contract for deadlines, close and EOF.
type streamConn struct {
	*net.TCPConn
	name string // driver name for error messages
}

func (c *streamConn) Read(p []byte) (int, error) {
	n, err := c.TCPConn.Read(p)
	return n, neterr.Stream(c.name+": read", err)
}

func (c *streamConn) Write(p []byte) (int, error) {
	n, err := c.TCPConn.Write(p)
	return n, neterr.Stream(c.name+": write", err)
}

// Unwrap returns the socket, for driver.Lookup.
func (c *streamConn) Unwrap() net.Conn { return c.TCPConn }
