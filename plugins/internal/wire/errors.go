package wire

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"slices"

	"github.com/iotd/iotd/core/driver"
	pb "github.com/iotd/iotd/plugins/proto"
)

// sentinels maps each protocol code to the error it stands for.
var sentinels = []struct {
	code pb.Code
	err  error
}{
	{pb.Code_CODE_NOT_SUPPORTED, driver.ErrNotSupported},
	{pb.Code_CODE_SKIP, driver.ErrSkip},
	{pb.Code_CODE_BAD_CONN, driver.ErrBadConn},
	{pb.Code_CODE_RESET, driver.ErrReset},
	{pb.Code_CODE_REFUSED, driver.ErrRefused},
	{pb.Code_CODE_UNREACHABLE, driver.ErrUnreachable},
	{pb.Code_CODE_TOO_LARGE, driver.ErrTooLarge},
	{pb.Code_CODE_SHORT_BUFFER, driver.ErrShortBuffer},
	{pb.Code_CODE_HANDSHAKE, driver.ErrHandshake},
	{pb.Code_CODE_EOF, io.EOF},
	{pb.Code_CODE_DEADLINE_EXCEEDED, os.ErrDeadlineExceeded},
	{pb.Code_CODE_CLOSED, net.ErrClosed},
	{pb.Code_CODE_CANCELED, context.Canceled},
	{pb.Code_CODE_CONTEXT_DEADLINE, context.DeadlineExceeded},
}

// Sentinels returns every error the protocol has a code for.
func Sentinels() []error {
	out := make([]error, len(sentinels))
	for i, s := range sentinels {
		out[i] = s.err
	}
	return out
}

// EncodeError turns err into its protocol form: its text, the code of every
// sentinel errors.Is finds in it, and whether it is a timeout. nil stays nil.
func EncodeError(err error) *pb.Error {
	if err == nil {
		return nil
	}
	e := &pb.Error{Message: err.Error()}
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			e.Codes = append(e.Codes, s.code)
		}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		e.Timeout = true
	}
	return e
}

// DecodeError turns a protocol error back into a Go error. A bare io.EOF
// comes back as io.EOF itself, so that err == io.EOF holds as it does in
// process; anything else is an *Error.
func DecodeError(e *pb.Error) error {
	if e == nil {
		return nil
	}
	if len(e.Codes) == 1 && e.Codes[0] == pb.Code_CODE_EOF && e.Message == io.EOF.Error() {
		return io.EOF
	}
	codes := slices.Clone(e.Codes)
	slices.Sort(codes)
	return &Error{Codes: slices.Compact(codes), Message: e.Message, IsTimeout: e.Timeout}
}

// Error is an error that crossed the plugin boundary. errors.Is matches
// the sentinels its codes name; Error() is the text the plugin saw.
type Error struct {
	Codes     []pb.Code
	Message   string
	IsTimeout bool
}

func (e *Error) Error() string { return e.Message }

// Is reports whether target is a sentinel one of e's codes stands for.
func (e *Error) Is(target error) bool {
	for _, s := range sentinels {
		if s.err == target && slices.Contains(e.Codes, s.code) {
			return true
		}
	}
	return false
}

// Timeout implements net.Error.
func (e *Error) Timeout() bool { return e.IsTimeout }

// Temporary implements net.Error; it is Timeout, as for the net package.
func (e *Error) Temporary() bool { return e.IsTimeout }

var _ net.Error = (*Error)(nil)
