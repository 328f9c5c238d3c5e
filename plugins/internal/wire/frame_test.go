package wire_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/plugins/internal/wire"
	pb "github.com/iotd/iotd/plugins/proto"
)

type frame struct {
	t byte
	p []byte
}

func encode(t testing.TB, frames ...frame) []byte {
	var b bytes.Buffer
	for _, f := range frames {
		require.NoError(t, wire.WriteFrame(&b, f.t, f.p))
	}
	return b.Bytes()
}

func TestFrameRoundTrip(t *testing.T) {
	ack, _ := proto.Marshal(&pb.WriteAck{Op: 3, N: 7, Error: wire.EncodeError(driver.ErrReset)})
	in := []frame{
		{wire.FrameData, []byte("hello")},
		{wire.FrameData, nil},
		{wire.FrameCredit, wire.Uint64(4096)},
		{wire.FrameDeadline, wire.Uint64(0)},
		{wire.FrameCloseWrite, nil},
		{wire.FrameWriteAck, ack},
		{wire.FrameData, make([]byte, wire.MaxFrame)},
	}
	r := wire.NewFrameReader(bytes.NewReader(encode(t, in...)))
	for _, want := range in {
		typ, p, err := r.Next()
		require.NoError(t, err)
		assert.Equal(t, want.t, typ)
		assert.Equal(t, len(want.p), len(p))
		assert.True(t, bytes.Equal(want.p, p))
	}
	_, _, err := r.Next()
	assert.Equal(t, io.EOF, err)
}

func TestFrameRejects(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{"unknown type", []byte{'Z', 0, 0, 0, 0}},
		{"too long", []byte{wire.FrameData, 0xff, 0xff, 0xff, 0xff}},
		{"credit of 7 bytes", []byte{wire.FrameCredit, 0, 0, 0, 7, 1, 2, 3, 4, 5, 6, 7}},
		{"cut in the header", []byte{wire.FrameData, 0}},
		{"cut in the payload", []byte{wire.FrameData, 0, 0, 0, 9, 'a'}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := wire.NewFrameReader(bytes.NewReader(tt.in)).Next()
			assert.ErrorIs(t, err, wire.ErrFrame)
		})
	}
	for _, c := range []uint64{0, wire.MaxCredit + 1, 1 << 63} {
		_, err := wire.ParseCredit(wire.Uint64(c))
		assert.ErrorIs(t, err, wire.ErrFrame, "credit %d", c)
	}
	assert.Error(t, wire.WriteFrame(io.Discard, wire.FrameData, make([]byte, wire.MaxFrame+1)))
}

// FuzzFrames feeds the frame reader, and the parsers of each frame's
// payload, what a (hostile or broken) peer process could send: nothing may
// panic, every frame read is within the limits and encodes back to the
// bytes it came from, and every error is either the end of the input or a
// malformed frame.
func FuzzFrames(f *testing.F) {
	ack, _ := proto.Marshal(&pb.WriteAck{Op: 1, N: 2, Error: wire.EncodeError(io.EOF)})
	data, _ := proto.Marshal(&pb.Data{Data: []byte("x"), Error: wire.EncodeError(driver.ErrReset)})
	cw, _ := proto.Marshal(&pb.CloseWriteResult{})
	f.Add(encode(f,
		frame{wire.FrameData, []byte("abc")},
		frame{wire.FrameCredit, wire.Uint64(65536)},
		frame{wire.FrameDeadline, wire.Uint64(1700000000000000000)},
		frame{wire.FrameWriteAck, ack},
		frame{wire.FrameReadError, data},
		frame{wire.FrameCloseWrite, cw},
	))
	f.Add([]byte{wire.FrameCredit, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{wire.FrameData, 0, 0x10, 0, 0})
	f.Add([]byte{'?', 1, 2})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := wire.NewFrameReader(bytes.NewReader(in))
		used := 0
		for {
			typ, p, err := r.Next()
			if err != nil {
				if err != io.EOF && !errors.Is(err, wire.ErrFrame) {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if len(p) > wire.MaxFrame {
				t.Fatalf("a frame of %d bytes passed", len(p))
			}
			again := encode(t, frame{typ, p})
			if !bytes.Equal(again, in[used:used+len(again)]) {
				t.Fatalf("frame %q did not encode back to its bytes", typ)
			}
			used += len(again)
			switch typ {
			case wire.FrameCredit:
				if n, err := wire.ParseCredit(p); err == nil && (n <= 0 || n > wire.MaxCredit) {
					t.Fatalf("credit %d accepted", n)
				}
			case wire.FrameDeadline:
				if _, err := wire.ParseUint64(p); err != nil {
					t.Fatalf("a deadline frame passed the reader but not ParseUint64: %v", err)
				}
			case wire.FrameReadError:
				var m pb.Data
				if proto.Unmarshal(p, &m) == nil {
					_ = wire.DecodeError(m.Error)
				}
			case wire.FrameWriteAck:
				var m pb.WriteAck
				if proto.Unmarshal(p, &m) == nil {
					_ = wire.DecodeError(m.Error)
				}
			}
		}
	})
}
