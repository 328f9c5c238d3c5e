package mqtt

import (
	"bufio"
	"net"
	"sync"
	"time"
)

// bufferedConn is the connection paho is given. paho reads a packet's
// fixed header one byte per Read and writes every packet with its own
// Write, so a PUBACK costs three read system calls and each publish one
// write: on a busy session most of the CPU went to system calls (`make
// bench` profile: 38 % in Syscall6). This conn reads ahead into a buffer and
// coalesces writes: Write appends to a pending buffer and returns, and one
// flusher goroutine writes whatever accumulated while its last write was
// in the kernel — one packet when the session is quiet, many when it is
// busy (what fast MQTT clients do: flush when the queue is empty). The
// flusher runs only while bytes are pending: a Write that finds none
// pending starts it, and it returns when it emptied the buffer (a goroutine
// that writes through TLS keeps a large stack; a fleet of idle sessions
// kept one each). There is at most one at a time, so bytes go out in order.
//
// Back-pressure stays exact: a Write waits while maxPending bytes are
// pending, and each flush is at most flushChunk bytes under a fresh
// deadline of writeTimeout, so a connection that takes nothing (a dead
// peer, a stuck modem) fails the flusher within writeTimeout; its error is
// returned by every later Write and by Read, which paho reports as the
// connection lost. paho's own SetWriteDeadline calls
// (two per publish) are absorbed: the flusher's deadline replaces them.
// Close sends what is pending (paho's DISCONNECT) for at most
// closeFlushTimeout, then closes.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader

	mu       sync.Mutex
	cond     *sync.Cond // signalled when pending shrinks, an error is set or closing
	pending  []byte     // bytes written by paho, not yet handed to Conn
	spare    []byte     // the flusher's buffer, swapped with pending
	err      error      // the flusher's write error, sticky
	closing  bool
	flushing bool          // a flusher runs
	idle     chan struct{} // closed when the running flusher returned
	closed   sync.Once
}

const (
	// readBuffer holds the small packets (PUBACKs, a few headers) that
	// arrive together; a read of a larger payload bypasses it. 1 KiB
	// instead of 8: it is held by every idle session.
	readBuffer        = 1 << 10
	maxPending        = 64 << 10
	flushChunk        = 16 << 10
	closeFlushTimeout = disconnectQuiesce * time.Millisecond
)

func newBufferedConn(c net.Conn) *bufferedConn {
	b := &bufferedConn{Conn: c, r: bufio.NewReaderSize(c, readBuffer)}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// Read reads from the read-ahead buffer. Once the flusher failed, Read
// returns its error: paho's reader takes an error about a closed
// connection for its own doing and reports no loss, so the flusher wakes
// the reader with a read deadline instead of closing the connection.
func (b *bufferedConn) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil {
		b.mu.Lock()
		if b.err != nil {
			err = b.err
		}
		b.mu.Unlock()
	}
	return n, err
}

// Write queues p for the flusher. It waits while maxPending bytes are
// pending and returns the flusher's error once it failed.
func (b *bufferedConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.err == nil && !b.closing && len(b.pending) > 0 && len(b.pending)+len(p) > maxPending {
		b.cond.Wait()
	}
	if b.err != nil {
		return 0, b.err
	}
	if b.closing {
		return 0, net.ErrClosed
	}
	b.pending = append(b.pending, p...)
	if !b.flushing {
		b.flushing = true
		b.idle = make(chan struct{})
		go b.flusher(b.idle)
	}
	return len(p), nil
}

// SetWriteDeadline is absorbed: the flusher sets its own per flush.
func (b *bufferedConn) SetWriteDeadline(time.Time) error { return nil }

// SetDeadline sets the read deadline only, for the same reason.
func (b *bufferedConn) SetDeadline(t time.Time) error { return b.Conn.SetReadDeadline(t) }

// flusher writes pending bytes until none are left, or the conn fails;
// it closes idle when it returns.
func (b *bufferedConn) flusher(idle chan struct{}) {
	defer close(idle)
	for {
		b.mu.Lock()
		if b.err != nil || len(b.pending) == 0 { // failed, or all written
			b.flushing = false
			b.cond.Broadcast()
			b.mu.Unlock()
			return
		}
		out := b.pending
		b.pending, b.spare = b.spare[:0], nil
		b.cond.Broadcast() // room for waiting writers
		b.mu.Unlock()

		err := b.writeAll(out)

		b.mu.Lock()
		b.spare = out[:0]
		if cap(b.spare) > 4*maxPending {
			b.spare = nil // a burst of huge packets: do not keep its buffer
		}
		if err != nil {
			b.err = err
		}
		b.cond.Broadcast()
		b.mu.Unlock()
		if err != nil {
			_ = b.Conn.SetReadDeadline(time.Now()) // Read returns err: paho sees the connection lost
		}
	}
}

// writeAll writes out in chunks of at most flushChunk, each under a fresh
// write deadline.
func (b *bufferedConn) writeAll(out []byte) error {
	for len(out) > 0 {
		n := min(len(out), flushChunk)
		if err := b.Conn.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
			return err
		}
		if _, err := b.Conn.Write(out[:n]); err != nil {
			return err
		}
		out = out[n:]
	}
	return nil
}

// Close sends what is pending for at most closeFlushTimeout, then closes
// the connection.
func (b *bufferedConn) Close() error {
	var err error
	b.closed.Do(func() {
		b.mu.Lock()
		b.closing = true
		b.cond.Broadcast()
		var idle chan struct{}
		if b.flushing {
			idle = b.idle
		}
		b.mu.Unlock()
		if idle == nil {
			err = b.Conn.Close()
			return
		}
		select {
		case <-idle:
		case <-time.After(closeFlushTimeout):
		}
		err = b.Conn.Close()
		<-idle
	})
	return err
}
