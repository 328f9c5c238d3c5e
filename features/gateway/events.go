package gateway

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/iotd/iotd/bus"
)

// The gateway tells other features which sub-devices are online through
// it with bus.TopicSubDevices events (the shadow and sub-device OTA
// features follow them with bus.Bus.WatchSubDevices): after every change
// and when asked on bus.TopicSubDevicesQuery.

// online returns the sub-devices online now, sorted.
func (g *Gateway) online() []bus.DeviceRef {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := []bus.DeviceRef{}
	for r, s := range g.subs {
		if s.online {
			out = append(out, bus.DeviceRef{ProductID: r.ProductID, DeviceName: r.DeviceName})
		}
	}
	slices.SortFunc(out, func(a, b bus.DeviceRef) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// publishOnline publishes the online set when it changed since the last
// publish, or always when force (an answer to a query).
func (g *Gateway) publishOnline(force bool) {
	g.pubMu.Lock()
	defer g.pubMu.Unlock()
	set := g.online()
	if !force && g.published != nil && slices.Equal(set, g.published) {
		return
	}
	g.published = set
	if err := g.bus.PublishSubDevices(bus.SubDevices{Online: set}); err != nil {
		g.log.Debug("gateway: online sub-devices not published", "err", err)
	}
}

// answer answers a query on bus.TopicSubDevicesQuery: a request gets the
// set as its reply, a plain query an event.
func (g *Gateway) answer(q *message.Message) {
	if q.Metadata.Get(bus.MetaReplyTo) == "" {
		g.publishOnline(true)
		return
	}
	rep, err := bus.NewEvent(bus.SubDevices{Online: g.online()})
	if err == nil {
		err = g.bus.Reply(q, rep)
	}
	if err != nil {
		g.log.Debug("gateway: online sub-devices not sent", "err", err)
	}
}

// answerQueries is a disabled gateway's Run: none is online, say so at
// once rather than let the asker wait.
func (g *Gateway) answerQueries(ctx context.Context) error {
	queries, err := g.bus.Subscribe(ctx, bus.TopicSubDevicesQuery)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	for m := range queries {
		m.Ack()
		g.answer(m)
	}
	return nil
}
