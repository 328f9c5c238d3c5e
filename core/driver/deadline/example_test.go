package deadline_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/iotd/iotd/core/driver/deadline"
)

// queueConn reads messages that arrive on a channel, as a driver's
// connection might when another goroutine talks to the hardware.
type queueConn struct {
	incoming chan []byte
	closed   chan struct{}
	rd       deadline.Timer
}

func (c *queueConn) SetReadDeadline(t time.Time) error { c.rd.Set(t); return nil }

func (c *queueConn) Read(p []byte) (int, error) {
	for {
		if c.rd.Passed() {
			return 0, &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
		}
		select {
		case b := <-c.incoming:
			return copy(p, b), nil
		case <-c.closed:
			return 0, net.ErrClosed
		case <-c.rd.Done(): // passed; look again, it may have moved since
		}
	}
}

func (c *queueConn) Close() error {
	close(c.closed)
	c.rd.Stop()
	return nil
}

func Example() {
	c := &queueConn{incoming: make(chan []byte, 1), closed: make(chan struct{})}
	defer c.Close()

	c.incoming <- []byte("hello")
	_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	buf := make([]byte, 16)
	n, err := c.Read(buf)
	fmt.Printf("%q %v\n", buf[:n], err)

	_, err = c.Read(buf) // nothing more arrives
	fmt.Println(errors.Is(err, os.ErrDeadlineExceeded))

	_ = c.SetReadDeadline(time.Time{}) // clear it: reads block again
	c.incoming <- []byte("again")
	n, err = c.Read(buf)
	fmt.Printf("%q %v\n", buf[:n], err)
	// Output:
	// "hello" <nil>
	// true
	// "again" <nil>
}
