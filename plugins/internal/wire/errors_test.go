package wire_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/plugins/internal/wire"
	pb "github.com/iotd/iotd/plugins/proto"
)

func roundTrip(t *testing.T, err error) error {
	t.Helper()
	b, merr := proto.Marshal(wire.EncodeError(err))
	require.NoError(t, merr)
	var e pb.Error
	require.NoError(t, proto.Unmarshal(b, &e))
	if err == nil {
		return nil
	}
	return wire.DecodeError(&e)
}

func TestErrorRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		timeout bool
		same    bool // the decoded error is the very sentinel (err == io.EOF)
	}{
		{name: "nil", err: nil},
		{name: "bare EOF stays io.EOF", err: io.EOF, same: true},
		{name: "wrapped EOF", err: fmt.Errorf("read: %w", io.EOF)},
		{name: "reset with cause", err: fmt.Errorf("%w: %w", driver.ErrReset, errors.New("connection reset by peer"))},
		{name: "two sentinels", err: fmt.Errorf("%w: %w", driver.ErrHandshake, context.DeadlineExceeded), timeout: true},
		{name: "net timeout", err: &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}, timeout: true},
		{name: "closed", err: &net.OpError{Op: "read", Net: "tcp", Err: net.ErrClosed}},
		{name: "plain", err: errors.New("no sentinel at all")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := roundTrip(t, tt.err)
			if tt.err == nil {
				assert.NoError(t, got)
				return
			}
			assert.Equal(t, tt.err.Error(), got.Error())
			for _, s := range wire.Sentinels() {
				assert.Equal(t, errors.Is(tt.err, s), errors.Is(got, s), "errors.Is(%q, %q)", tt.err, s)
			}
			var ne net.Error
			assert.Equal(t, tt.timeout, errors.As(got, &ne) && ne.Timeout())
			if tt.same {
				assert.Equal(t, tt.err, got)
			}
		})
	}
}

// FuzzDecodeError feeds DecodeError whatever a (hostile or broken) plugin
// could send: it must not panic, and Is must agree with the codes.
func FuzzDecodeError(f *testing.F) {
	for _, err := range append(wire.Sentinels(), errors.New("x"), fmt.Errorf("%w: %w", driver.ErrReset, io.EOF)) {
		b, _ := proto.Marshal(wire.EncodeError(err))
		f.Add(b)
	}
	f.Add([]byte{0x08, 0xff, 0xff, 0xff, 0xff, 0x0f}) // an unknown code
	f.Fuzz(func(t *testing.T, b []byte) {
		var e pb.Error
		if proto.Unmarshal(b, &e) != nil {
			return
		}
		err := wire.DecodeError(&e)
		if err == nil {
			t.Fatal("a non-nil protocol error decoded to nil")
		}
		_ = err.Error()
		again := wire.DecodeError(wire.EncodeError(err))
		for _, s := range wire.Sentinels() {
			if errors.Is(err, s) != errors.Is(again, s) {
				t.Fatalf("re-encoding %q changed errors.Is(_, %q)", err, s)
			}
		}
	})
}
