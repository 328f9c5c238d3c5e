package peer

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Op is a stream control command.
type Op string

// The stream control commands; see the package documentation.
const (
	OpEcho    Op = "ECHO"
	OpFIN     Op = "FIN"
	OpRST     Op = "RST"
	OpDelay   Op = "DELAY"
	OpChargen Op = "CHARGEN"
	OpDiscard Op = "DISCARD"
	OpHold    Op = "HOLD"
)

// Limits on command arguments, so that a bad client cannot make the peer
// sleep or send for ever.
const (
	MaxDelayMS   = 60_000
	MaxChargen   = 1 << 30
	maxLineBytes = 64
)

// Command is one parsed control line.
type Command struct {
	Op Op
	// N is the argument of DELAY (milliseconds) and CHARGEN (bytes).
	N int
}

// String returns the command as its control line, without "\n".
func (c Command) String() string {
	if c.Op == OpDelay || c.Op == OpChargen {
		return fmt.Sprintf("%s %d", c.Op, c.N)
	}
	return string(c.Op)
}

// Line returns the command as sent on the wire, "\n" included.
func (c Command) Line() []byte { return []byte(c.String() + "\n") }

var errCommand = errors.New("peer: bad command")

// ParseCommand parses one control line (without its "\n"; a trailing "\r"
// is tolerated).
func ParseCommand(line string) (Command, error) {
	line = strings.TrimSuffix(line, "\r")
	if len(line) > maxLineBytes {
		return Command{}, fmt.Errorf("%w: line longer than %d bytes", errCommand, maxLineBytes)
	}
	word, arg, hasArg := strings.Cut(line, " ")
	op := Op(word)
	switch op {
	case OpEcho, OpFIN, OpRST, OpDiscard, OpHold:
		if hasArg {
			return Command{}, fmt.Errorf("%w: %s takes no argument", errCommand, op)
		}
		return Command{Op: op}, nil
	case OpDelay, OpChargen:
		if !hasArg {
			return Command{}, fmt.Errorf("%w: %s needs a number", errCommand, op)
		}
		n, err := strconv.Atoi(arg)
		if err != nil || n < 0 || strconv.Itoa(n) != arg {
			return Command{}, fmt.Errorf("%w: %s argument %q is not a non-negative decimal", errCommand, op, arg)
		}
		limit := MaxChargen
		if op == OpDelay {
			limit = MaxDelayMS
		}
		if n > limit {
			return Command{}, fmt.Errorf("%w: %s argument %d above %d", errCommand, op, n, limit)
		}
		return Command{Op: op, N: n}, nil
	default:
		return Command{}, fmt.Errorf("%w: unknown command %q", errCommand, word)
	}
}

// Pattern returns byte i of the CHARGEN pattern.
func Pattern(i int) byte { return byte(i % 251) }
