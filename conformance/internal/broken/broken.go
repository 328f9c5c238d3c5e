package broken

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/posix"
)

// Defect names one deliberate bug.
type Defect string

// The defects, each with the case ID meant to catch it.
const (
	// LosesBytes drops the Write that crosses each 128 KiB mark of a
	// conn's output (reports it written, sends nothing). Caught by S03.
	LosesBytes Defect = "loses-bytes"
	// IgnoresDeadlines passes no read deadline to the socket: a Read
	// blocks until data or Close. Caught by S08.
	IgnoresDeadlines Defect = "ignores-deadlines"
	// ResetAsEOF reports an abortive close (ErrReset) as io.EOF. Caught
	// by S05.
	ResetAsEOF Defect = "reset-as-eof"
	// LeaksGoroutines starts, on each Dial, a goroutine that outlives the
	// conn. Caught by S17.
	LeaksGoroutines Defect = "leaks-goroutines"
	// CorruptsByte flips the 100001st byte written on a conn. Caught by
	// S03.
	CorruptsByte Defect = "corrupts-byte"
)

// Catches maps each defect to the ID of the case meant to catch it.
var Catches = map[Defect]string{
	LosesBytes:       "S03",
	IgnoresDeadlines: "S08",
	ResetAsEOF:       "S05",
	LeaksGoroutines:  "S17",
	CorruptsByte:     "S03",
}

// Driver is the tcp driver with one defect. Close stops the goroutines
// LeaksGoroutines leaked, so that a test ends clean.
type Driver struct {
	driver.Driver
	defect Defect

	stop     chan struct{}
	stopOnce sync.Once
	leaked   sync.WaitGroup
}

// New returns the tcp driver with defect d, registered as "broken.<d>".
func New(d Defect) *Driver {
	return &Driver{Driver: posix.NewTCP(), defect: d, stop: make(chan struct{})}
}

// Name is "broken." plus the defect, with dashes as underscores.
func (d *Driver) Name() string { return "broken." + strings.ReplaceAll(string(d.defect), "-", "_") }

// Version reports a fixed version, so certificates carry one.
func (d *Driver) Version() string { return "0.0.0-broken" }

// Close ends the goroutines leaked so far and waits for them.
func (d *Driver) Close() {
	d.stopOnce.Do(func() { close(d.stop) })
	d.leaked.Wait()
}

// Open opens the tcp driver and wraps its dialer.
func (d *Driver) Open(config []byte) (driver.Dialer, error) {
	dl, err := d.Driver.Open(config)
	if err != nil {
		return nil, err
	}
	return dialer{dl, d}, nil
}

type dialer struct {
	driver.Dialer
	d *Driver
}

func (x dialer) Dial(ctx context.Context, t driver.Transport, addr string) (driver.Conn, error) {
	c, err := x.Dialer.Dial(ctx, t, addr)
	if err != nil {
		return nil, err
	}
	switch x.d.defect {
	case LosesBytes:
		return &losing{Conn: c}, nil
	case IgnoresDeadlines:
		return &deadlineless{Conn: c}, nil
	case ResetAsEOF:
		return resetAsEOF{c}, nil
	case LeaksGoroutines:
		x.d.leaked.Add(1)
		go func() {
			defer x.d.leaked.Done()
			<-x.d.stop // never the conn's Close: the defect
		}()
		return c, nil
	case CorruptsByte:
		return &corrupting{Conn: c}, nil
	}
	return c, nil
}

// losing drops the Write that crosses each 128 KiB mark.
type losing struct {
	driver.Conn
	mu      sync.Mutex
	written int
}

func (c *losing) Write(p []byte) (int, error) {
	const mark = 128 << 10
	c.mu.Lock()
	before := c.written
	c.written += len(p)
	drop := before/mark != c.written/mark
	c.mu.Unlock()
	if drop {
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// deadlineless keeps read deadlines away from the socket.
type deadlineless struct{ driver.Conn }

func (c *deadlineless) SetReadDeadline(time.Time) error { return nil }

func (c *deadlineless) SetDeadline(t time.Time) error { return c.Conn.SetWriteDeadline(t) }

// resetAsEOF reports an abortive close as an orderly one.
type resetAsEOF struct{ driver.Conn }

func (c resetAsEOF) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if errors.Is(err, driver.ErrReset) {
		err = io.EOF
	}
	return n, err
}

// corrupting flips the 100001st byte written.
type corrupting struct {
	driver.Conn
	mu      sync.Mutex
	written int
}

func (c *corrupting) Write(p []byte) (int, error) {
	const at = 100_000
	c.mu.Lock()
	if c.written <= at && at < c.written+len(p) {
		p = bytes.Clone(p)
		p[at-c.written] ^= 0xff
	}
	c.written += len(p)
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// All returns one driver per defect.
func All() []*Driver {
	return []*Driver{New(LosesBytes), New(IgnoresDeadlines), New(ResetAsEOF), New(LeaksGoroutines), New(CorruptsByte)}
}

// Defect returns the driver's defect.
func (d *Driver) Defect() Defect { return d.defect }
