package mqtt

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Writes from one writer arrive whole and in order, however the flusher
// batches them, and reads come through the read-ahead buffer.
func TestBufferedConnKeepsBytesAndOrder(t *testing.T) {
	a, b := net.Pipe()
	c := newBufferedConn(a)
	var want bytes.Buffer
	got := make(chan []byte, 1)
	go func() {
		data, _ := io.ReadAll(b)
		got <- data
	}()
	for i := range 2000 {
		p := bytes.Repeat([]byte{byte(i)}, 1+i%300)
		want.Write(p)
		n, err := c.Write(p)
		require.NoError(t, err)
		require.Equal(t, len(p), n)
	}
	big := bytes.Repeat([]byte("x"), 3*maxPending) // larger than the buffer: written alone
	want.Write(big)
	_, err := c.Write(big)
	require.NoError(t, err)
	require.NoError(t, c.Close(), "Close sends what is pending first")
	assert.True(t, bytes.Equal(want.Bytes(), <-got))

	a, b = net.Pipe()
	c = newBufferedConn(a)
	defer c.Close()
	go func() { _, _ = b.Write([]byte("hello, world")) }()
	buf := make([]byte, 1)
	var read []byte
	for len(read) < 12 {
		n, err := c.Read(buf)
		require.NoError(t, err)
		read = append(read, buf[:n]...)
	}
	assert.Equal(t, "hello, world", string(read))
}

// When the peer goes away the flusher's error reaches the writer and the
// reader — not as "use of closed network connection", which paho would
// take for its own close and not report as a lost connection.
func TestBufferedConnReportsWriteFailure(t *testing.T) {
	a, b := net.Pipe()
	c := newBufferedConn(a)
	defer c.Close()
	readErr := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 10))
		readErr <- err
	}()
	require.NoError(t, b.Close())
	var err error
	for err == nil {
		_, err = c.Write([]byte("publish"))
	}
	assert.ErrorIs(t, err, io.ErrClosedPipe)
	rerr := <-readErr
	require.Error(t, rerr)
	assert.False(t, errors.Is(rerr, net.ErrClosed), "read error %v", rerr)
}

// A writer waits while the pending buffer is full (the peer reads
// nothing), and is released by Close.
func TestBufferedConnBackPressure(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	c := newBufferedConn(a)
	chunk := make([]byte, maxPending/2)
	var mu sync.Mutex
	written := 0
	done := make(chan error, 1)
	go func() {
		for {
			if _, err := c.Write(chunk); err != nil {
				done <- err
				return
			}
			mu.Lock()
			written += len(chunk)
			mu.Unlock()
		}
	}()
	// The peer reads one flush chunk's worth; the writer then stops once
	// the flusher holds a batch and the pending buffer is full.
	_, err := io.ReadFull(b, make([]byte, flushChunk))
	require.NoError(t, err)
	require.NoError(t, c.Close())
	require.Error(t, <-done)
	mu.Lock()
	defer mu.Unlock()
	assert.LessOrEqual(t, written, 3*maxPending, "bounded by the pending buffer and the flusher's batch")
}
