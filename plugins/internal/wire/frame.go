package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// A connection's data goes between the host and the plugin on Unix sockets
// of its own (see plugins/proto's Dial), which the plugin connects to the
// socket the Dial names. Each opens with the TokenSize bytes of the Dial's
// data_token and a byte naming the channel: ChannelFramed, which every
// connection has, and for a stream connection also ChannelRaw.
//
// The raw channel carries a stream's bytes as they are, both ways: the
// kernel's socket buffers are the windows (the host's send buffer is the
// DialResult's write_window, the plugin's its initial_credit), so a Write
// returns once the bytes are in the host's buffer and waits, bounded by the
// deadline, when a slow Conn behind the plugin has let it fill up. Its
// errors go on the framed channel, before the raw channel's end: the plugin
// sends the final read error (FrameReadError) and then half-closes the raw
// channel; when its Conn fails a Write it sends the error (FrameWriteAck)
// and shuts the raw channel's reading side, so that the host's writes fail.
// The host half-closes the raw channel to half-close the stream (then sends
// FrameCloseWrite) or before it closes the conn: the plugin writes what it
// read before it acts on either.
//
// The framed channel carries frames: a type byte, the payload's length as
// a big-endian uint32, and the payload. On a datagram conn it carries the
// data too, with credit for reads: the plugin reads ahead at most the
// DialResult's initial_credit bytes (a datagram costs its length plus one)
// beyond what the host's Reads have consumed, and the host returns
// FrameCredit as they consume it. Each FrameData from the host is one
// datagram, answered by one FrameWriteAck whose op counts the datagrams
// from 1.
const (
	// FrameData is data: stream bytes, or exactly one datagram.
	FrameData byte = 'D'
	// FrameCredit (host to plugin, datagram conns) is a big-endian
	// uint64: that many more bytes may be read ahead.
	FrameCredit byte = 'C'
	// FrameDeadline (host to plugin, datagram conns) is a big-endian
	// int64: the write deadline in Unix nanoseconds, 0 for none. A stream
	// conn's write deadline is the host's alone: what the host sent is
	// the plugin's to write, as a kernel's socket buffer would.
	FrameDeadline byte = 'T'
	// FrameCloseWrite from the host is empty and half-closes the stream
	// once the plugin has written what the raw channel brought before its
	// end; the plugin answers with a pb.CloseWriteResult.
	FrameCloseWrite byte = 'H'
	// FrameReadError (plugin to host) is a pb.Data: what a Read returned
	// along with an error (on a stream conn, the error only: the data went
	// on the raw channel). On a stream conn the error is final.
	FrameReadError byte = 'R'
	// FrameWriteAck (plugin to host) is a pb.WriteAck: a datagram's
	// result, or a stream conn's final write error.
	FrameWriteAck byte = 'A'
)

// The kinds of channel, the byte after the token.
const (
	ChannelFramed byte = 'F'
	ChannelRaw    byte = 'S'
)

// HeaderSize is the size of a frame header.
const HeaderSize = 5

// TokenSize is the size of the token that opens a data channel.
const TokenSize = 32

// MaxFrame is the largest payload either end accepts: a whole datagram plus
// the room its error may take.
const MaxFrame = MaxDatagram + 64<<10

// ErrFrame is wrapped by every error about a malformed frame.
var ErrFrame = errors.New("malformed data-channel frame")

// known reports whether t is a frame type, and the payload size a frame of
// that type must have (-1: any up to MaxFrame).
func known(t byte) (size int, ok bool) {
	switch t {
	case FrameData, FrameCloseWrite, FrameReadError, FrameWriteAck:
		return -1, true
	case FrameCredit, FrameDeadline:
		return 8, true
	}
	return 0, false
}

// FrameReader reads frames from the other process.
type FrameReader struct {
	r   *bufio.Reader
	hdr [HeaderSize]byte
}

// NewFrameReader reads frames from r, buffered.
func NewFrameReader(r io.Reader) *FrameReader {
	return &FrameReader{r: bufio.NewReaderSize(r, 64<<10)}
}

// Next returns the next frame's type and payload (a fresh slice, the
// caller's to keep). io.EOF means the other end closed between frames; an
// error wrapping ErrFrame, that it sent something that is not a frame.
func (f *FrameReader) Next() (byte, []byte, error) {
	if _, err := io.ReadFull(f.r, f.hdr[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			err = fmt.Errorf("%w: cut short in its header", ErrFrame)
		}
		return 0, nil, err
	}
	t, n := f.hdr[0], binary.BigEndian.Uint32(f.hdr[1:])
	size, ok := known(t)
	switch {
	case !ok:
		return 0, nil, fmt.Errorf("%w: unknown type %#x", ErrFrame, t)
	case n > MaxFrame:
		return 0, nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrFrame, n, MaxFrame)
	case size >= 0 && int(n) != size:
		return 0, nil, fmt.Errorf("%w: type %q with %d bytes, want %d", ErrFrame, t, n, size)
	}
	p := getBuffer(int(n))
	if k, err := io.ReadFull(f.r, p); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			err = fmt.Errorf("%w: cut short after %d of %d bytes", ErrFrame, k, n)
		}
		return 0, nil, err
	}
	return t, p, nil
}

// buffers recycles the payloads of stream frames, which a transfer goes
// through at a rate that would otherwise keep the garbage collector busy.
var buffers = sync.Pool{New: func() any { b := make([]byte, StreamFrame); return &b }}

func getBuffer(n int) []byte {
	if n == 0 || n > StreamFrame {
		return make([]byte, n)
	}
	return (*buffers.Get().(*[]byte))[:n]
}

// PutBuffer recycles a payload that Next returned, once nothing refers to
// it any more. Payloads of other sizes are left to the garbage collector.
func PutBuffer(p []byte) {
	if cap(p) != StreamFrame {
		return
	}
	p = p[:cap(p)]
	buffers.Put(&p)
}

// WriteFrame writes one frame to w in one write where w allows (writev on
// a socket). It does not serialise callers.
func WriteFrame(w io.Writer, t byte, payload []byte) error {
	if len(payload) > MaxFrame {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrFrame, len(payload), MaxFrame)
	}
	var hdr [HeaderSize]byte
	hdr[0] = t
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(payload)))
	if len(payload) == 0 {
		_, err := w.Write(hdr[:])
		return err
	}
	bufs := net.Buffers{hdr[:], payload}
	_, err := bufs.WriteTo(w)
	return err
}

// Uint64 is the payload of a FrameCredit or FrameDeadline.
func Uint64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// ParseUint64 reads the payload of a FrameCredit or FrameDeadline.
func ParseUint64(p []byte) (uint64, error) {
	if len(p) != 8 {
		return 0, fmt.Errorf("%w: %d bytes where 8 were due", ErrFrame, len(p))
	}
	return binary.BigEndian.Uint64(p), nil
}

// ParseCredit reads a FrameCredit's payload: a credit above MaxCredit (the
// other end never grants that much) is an error, so that sums cannot
// overflow.
func ParseCredit(p []byte) (int64, error) {
	v, err := ParseUint64(p)
	if err != nil {
		return 0, err
	}
	if v == 0 || v > MaxCredit {
		return 0, fmt.Errorf("%w: a credit of %d bytes (1 to %d)", ErrFrame, v, MaxCredit)
	}
	return int64(v), nil
}

// MaxCredit bounds one credit frame.
const MaxCredit = 1 << 30
