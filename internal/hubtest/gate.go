package hubtest

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/iotd/iotd/core/driver"
)

// gate holds dials while closed, so a test can keep a device offline for
// exactly as long as it needs (a reconnect that would otherwise race the
// test's next step).
type gate struct {
	held atomic.Pointer[chan struct{}]
}

// hold closes the gate and returns the function that opens it again.
func (g *gate) hold() (release func()) {
	ch := make(chan struct{})
	g.held.Store(&ch)
	var once sync.Once
	return func() {
		once.Do(func() {
			g.held.CompareAndSwap(&ch, nil)
			close(ch)
		})
	}
}

func (g *gate) wait(ctx context.Context) error {
	if ch := g.held.Load(); ch != nil {
		select {
		case <-*ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// gatedDriver is a driver whose dials pass the gate first.
type gatedDriver struct {
	driver.Driver
	g *gate
}

func (d gatedDriver) Open(config []byte) (driver.Dialer, error) {
	dl, err := d.Driver.Open(config)
	if err != nil {
		return nil, err
	}
	return gatedDialer{dl, d.g}, nil
}

func (d gatedDriver) Unwrap() any { return d.Driver }

type gatedDialer struct {
	driver.Dialer
	g *gate
}

func (d gatedDialer) Dial(ctx context.Context, t driver.Transport, addr string) (driver.Conn, error) {
	if err := d.g.wait(ctx); err != nil {
		return nil, err
	}
	return d.Dialer.Dial(ctx, t, addr)
}

func (d gatedDialer) Unwrap() any { return d.Dialer }
