package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
)

// The data channel carries one connection's data between the host and the
// plugin, on a Unix socket of its own (see plugins/proto's Dial). The
// plugin connects, writes the TokenSize bytes of the Dial's data_token, and
// from then on both ends send frames: a type byte, the payload's length as
// a big-endian uint32, and the payload.
//
// Flow control is credit both ways. The host sends at most the DialResult's
// write_window bytes of stream data ahead of what the plugin's Conn has
// taken: the plugin returns FrameCredit for each piece once Write took it.
// The plugin reads ahead at most the DialResult's initial_credit bytes
// (a datagram costs its length plus one) beyond what the host's Reads have
// consumed, and the host returns FrameCredit as they consume it.
//
// A datagram conn's Write is not credited but acknowledged: each FrameData
// from the host is one datagram, answered by one FrameWriteAck whose op
// counts the datagrams from 1.
const (
	// FrameData is data: stream bytes, or exactly one datagram.
	FrameData byte = 'D'
	// FrameCredit is a big-endian uint64: that many more bytes may be sent.
	FrameCredit byte = 'C'
	// FrameDeadline (host to plugin, datagram conns) is a big-endian
	// int64: the write deadline in Unix nanoseconds, 0 for none. A stream
	// conn's write deadline is the host's alone: what the host sent is
	// the plugin's to write, as a kernel's socket buffer would.
	FrameDeadline byte = 'T'
	// FrameCloseWrite from the host is empty and half-closes the stream
	// after the data before it; the plugin answers with a
	// pb.CloseWriteResult.
	FrameCloseWrite byte = 'H'
	// FrameReadError (plugin to host) is a pb.Data: what a Read returned
	// along with an error. On a stream conn it is the last frame of data.
	FrameReadError byte = 'R'
	// FrameWriteAck (plugin to host) is a pb.WriteAck: a datagram's
	// result, or a stream conn's final write error.
	FrameWriteAck byte = 'A'
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
	p := make([]byte, n)
	if k, err := io.ReadFull(f.r, p); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			err = fmt.Errorf("%w: cut short after %d of %d bytes", ErrFrame, k, n)
		}
		return 0, nil, err
	}
	return t, p, nil
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
