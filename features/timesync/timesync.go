package timesync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/linkstate"
)

// requestBody is the only request the time service knows.
const requestBody = `{"type": "get", "resource": ["time"]}`

// Sync is the time sync feature. Create it with [New]; call Run.
type Sync struct {
	cfg   Config
	bus   *bus.Bus
	clock *core.Clock
	log   *slog.Logger
	req   string // request topic
	res   string // result topic
	now   func() time.Time
}

// New prepares time sync for device pid/dn. clock receives the offset; log
// may be nil. New does no I/O.
func New(cfg Config, b *bus.Bus, clock *core.Clock, productID, deviceName string, log *slog.Logger) (*Sync, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	if b == nil || clock == nil {
		return nil, errors.New("timesync: bus and clock are required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Sync{
		cfg:   cfg,
		bus:   b,
		clock: clock,
		log:   log.With("feature", "timesync"),
		req:   fmt.Sprintf("$sys/operation/%s/%s", productID, deviceName),
		res:   fmt.Sprintf("$sys/operation/result/%s/%s", productID, deviceName),
		now:   time.Now,
	}, nil
}

// Run syncs at start, after every reconnect and every Interval, until ctx
// ends. It returns nil when ctx ends.
func (s *Sync) Run(ctx context.Context) error {
	if s.cfg.Disabled {
		<-ctx.Done()
		return nil
	}
	states, err := s.bus.Subscribe(ctx, bus.TopicLinkState)
	if err != nil {
		return fmt.Errorf("timesync: %w", err)
	}
	replies, err := s.bus.CloudSubscribeWait(ctx, s.res, 0)
	if err != nil {
		return nil // ctx ended
	}

	tick := time.NewTicker(s.cfg.Interval)
	defer tick.Stop()
	syncNow := make(chan struct{}, 1)
	syncNow <- struct{}{}
	for {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-states:
			if !ok {
				return nil
			}
			m.Ack()
			// A sync that already ran on this connection (the one at
			// start, usually) makes another one pointless.
			if st, err := bus.DecodeLinkState(m); err == nil && st.State == linkstate.Connected && !s.clock.LastSync().After(st.Since) {
				select {
				case syncNow <- struct{}{}:
				default:
				}
			}
		case <-tick.C:
			select {
			case syncNow <- struct{}{}:
			default:
			}
		case <-syncNow:
			if err := s.syncOnce(ctx, replies); err != nil && ctx.Err() == nil {
				s.log.Warn("time sync failed", "err", err)
			}
		}
	}
}

// syncOnce sends one request and waits for the reply.
func (s *Sync) syncOnce(ctx context.Context, replies <-chan *message.Message) error {
	// Drop replies to earlier requests that arrived late.
	for drained := false; !drained; {
		select {
		case m, ok := <-replies:
			if !ok {
				return errors.New("timesync: reply subscription closed")
			}
			m.Ack()
		default:
			drained = true
		}
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	t0 := s.now()
	if err := s.bus.CloudPublish(ctx, s.req, []byte(requestBody), 0); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("timesync: no reply on %s within %s", s.res, s.cfg.Timeout)
		case m, ok := <-replies:
			if !ok {
				return errors.New("timesync: reply subscription closed")
			}
			t3 := s.now()
			m.Ack()
			r, err := parseReply(m.Payload)
			if err != nil {
				s.log.Warn("ignoring malformed time reply", "err", err)
				continue
			}
			offset, rtt := estimate(r, t0, t3)
			s.clock.SetOffset(offset)
			ev, err := bus.NewEvent(bus.ClockOffset{Offset: offset, RTT: rtt, ServerTime: t3.Add(offset), SyncedAt: t3})
			if err != nil {
				return err
			}
			if err := s.bus.Publish(bus.TopicClockOffset, ev); err != nil {
				return err
			}
			s.log.Info("clock synced", "offset", offset.Round(time.Microsecond), "rtt", rtt.Round(time.Microsecond))
			return nil
		}
	}
}
