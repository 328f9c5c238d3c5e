package plugins

import (
	"fmt"
	"os"
	"time"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/plugins/internal/wire"
	pb "github.com/iotd/iotd/plugins/proto"
)

// writeGrace is how long an acknowledged Write whose deadline passed waits
// for the plugin (which has the same deadline) to report how much it
// wrote, before returning the timeout without that count.
const writeGrace = 200 * time.Millisecond

// Write queues p for the plugin's Conn and returns once all of it is within
// the write window (wire.WriteWindow), as a Write to a kernel socket
// returns once its bytes are in the send buffer: it blocks, and its write
// deadline counts, only while the window is full. The plugin returns window
// as its Conn's Write takes the bytes. An error of that Write (a reset, a
// dead modem) is reported by the next Write, CloseWrite or Close, and every
// later one, with the sentinels it had.
//
// A datagram is checked against the Conn's max payload here, so that
// ErrTooLarge stays synchronous; without a known max payload each datagram
// is acknowledged by the plugin instead, and its Write returns the driver's
// own result.
func (c *conn) Write(p []byte) (int, error) {
	select {
	case c.wsem <- struct{}{}:
		defer func() { <-c.wsem }()
	case <-c.wdl.wait():
		return 0, c.opError("write", os.ErrDeadlineExceeded)
	case <-c.closed:
	case <-c.gone:
	case <-c.g.exited():
	}
	if err := c.failed("write"); err != nil {
		return 0, err
	}
	if err := c.takeWriteError("write"); err != nil {
		return 0, err
	}
	if c.wdl.passed() {
		return 0, c.opError("write", os.ErrDeadlineExceeded)
	}
	if c.datagram {
		if max := c.maxDatagram(); len(p) > max {
			return 0, c.opError("write", fmt.Errorf("%w: %d bytes; the connection carries datagrams of at most %d", driver.ErrTooLarge, len(p), max))
		}
		if !c.windowed {
			return c.writeOp(p, len(p))
		}
		if _, err := c.reserve(int64(len(p))+1, true); err != nil {
			return 0, err
		}
		if err := c.sendWrite(p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	total := 0
	for len(p) > 0 {
		k, err := c.reserve(int64(min(len(p), wire.Chunk)), false)
		if err != nil {
			return total, err
		}
		if err := c.sendWrite(p[:k]); err != nil {
			return total, err
		}
		total += int(k)
		p = p[k:]
	}
	return total, nil
}

func (c *conn) maxDatagram() int {
	if c.maxPayload > 0 {
		return c.maxPayload
	}
	return wire.MaxDatagram
}

func (c *conn) sendWrite(p []byte) error {
	w := &pb.Write{Data: p, Last: true}
	if err := c.send(&pb.HostFrame{Frame: &pb.HostFrame_Write{Write: w}}); err != nil {
		return c.sendError("write", err)
	}
	return nil
}

// takeWriteError returns the write error the plugin reported, or nil. A
// stream's error stays for every later call; a datagram's is reported once
// unless the connection cannot write any more.
func (c *conn) takeWriteError(op string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.werr
	if err == nil {
		return nil
	}
	if c.datagram && !wire.IsFinal(err) {
		c.werr = nil
	}
	return c.opError(op, err)
}

// reserve takes up to want bytes of write window (all of want if all is
// set), waiting while there is none; it fails on the write deadline, a
// write error, Close and the plugin's end.
func (c *conn) reserve(want int64, all bool) (int64, error) {
	for {
		if err := c.takeWriteError("write"); err != nil {
			return 0, err
		}
		c.mu.Lock()
		if avail := c.wcredit; avail >= want || (!all && avail > 0) {
			k := min(want, avail)
			c.wcredit -= k
			c.mu.Unlock()
			return k, nil
		}
		ch := c.wch
		c.mu.Unlock()
		select {
		case <-ch:
			continue
		case <-c.wdl.wait():
		case <-c.closed:
		case <-c.gone:
		case <-c.g.exited():
		}
		if err := c.failed("write"); err != nil {
			return 0, err
		}
		if c.wdl.passed() {
			return 0, c.opError("write", os.ErrDeadlineExceeded)
		}
	}
}

// writeOp sends one acknowledged datagram and waits for its
// acknowledgement.
func (c *conn) writeOp(p []byte, chunk int) (int, error) {
	c.mu.Lock()
	c.op++
	op := c.op
	c.waitOp, c.ack, c.ackCh = op, nil, make(chan struct{})
	ackCh := c.ackCh
	c.mu.Unlock()
	for off := 0; ; {
		end := min(off+max(chunk, 1), len(p))
		last := end == len(p)
		w := &pb.Write{Op: op, Data: p[off:end], Last: last}
		if err := c.send(&pb.HostFrame{Frame: &pb.HostFrame_Write{Write: w}}); err != nil {
			return 0, c.sendError("write", err)
		}
		if off = end; last {
			break
		}
	}
	ack := func() (int, error) {
		c.mu.Lock()
		a := c.ack
		c.waitOp = 0
		c.mu.Unlock()
		return int(a.N), wire.DecodeError(a.Error)
	}
	select {
	case <-ackCh:
		return ack()
	case <-c.wdl.wait():
	case <-c.closed:
	case <-c.gone:
	case <-c.g.exited():
	}
	if err := c.failed("write"); err != nil {
		return 0, err
	}
	// The deadline passed. The plugin has it too; let it say how much of
	// p its Conn took before it timed out.
	t := time.NewTimer(writeGrace)
	defer t.Stop()
	select {
	case <-ackCh:
		return ack()
	case <-t.C:
	case <-c.closed:
	case <-c.gone:
	case <-c.g.exited():
	}
	c.mu.Lock()
	c.waitOp = 0
	c.mu.Unlock()
	if err := c.failed("write"); err != nil {
		return 0, err
	}
	return 0, c.opError("write", os.ErrDeadlineExceeded)
}

// CloseWrite half-closes a stream connection (the plugin's Conn must have
// a CloseWrite method, as TCP conns do) after the data queued before it.
func (c *conn) CloseWrite() error {
	if c.datagram {
		return c.opError("close-write", fmt.Errorf("%w: half-close of a datagram connection", driver.ErrNotSupported))
	}
	select {
	case c.wsem <- struct{}{}:
		defer func() { <-c.wsem }()
	case <-c.closed:
	case <-c.gone:
	case <-c.g.exited():
	}
	if err := c.failed("close-write"); err != nil {
		return err
	}
	if err := c.takeWriteError("close-write"); err != nil {
		return err
	}
	if err := c.send(&pb.HostFrame{Frame: &pb.HostFrame_CloseWrite{CloseWrite: &pb.CloseWrite{}}}); err != nil {
		return c.sendError("close-write", err)
	}
	select {
	case err := <-c.cwRes:
		return err
	case <-c.closed:
	case <-c.gone:
	case <-c.g.exited():
	}
	return c.failed("close-write")
}
