package daemon

import (
	"context"
	"errors"
	"fmt"

	"github.com/iotd/iotd/bus"
)

// CheckConnect runs the daemon just long enough to learn the outcome of the
// first connection attempt: nil once the hub accepted the device, or an
// error saying why not (with a hint when the hub refused). Installers and
// `iotd run --check --connect` use it to fail fast with a non-zero exit,
// where the daemon itself would keep retrying.
func (d *Daemon) CheckConnect(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	states, err := d.bus.Subscribe(ctx, bus.TopicLinkState)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- d.run(ctx, false) }()
	defer func() { cancel(); <-done }()
	for {
		select {
		case err := <-done:
			done <- err // for the deferred wait
			if err == nil {
				err = errors.New("stopped before the first connection attempt finished")
			}
			return err
		case <-ctx.Done():
			return fmt.Errorf("no connection: %w", context.Cause(ctx))
		case m, ok := <-states:
			if !ok {
				return errors.New("bus closed")
			}
			m.Ack()
			var st bus.LinkState
			if bus.DecodeEvent(m, &st) != nil {
				continue
			}
			switch st.State {
			case "connected":
				return nil
			case "disconnected":
				if hint := d.refusalHint(st.Err); hint != "" {
					return fmt.Errorf("%s (%s)", st.Err, hint)
				}
				return errors.New(st.Err)
			}
		}
	}
}
