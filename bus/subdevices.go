package bus

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// SubDevices is a gateway's set of sub-devices online through it, the
// payload of [TopicSubDevices].
type SubDevices struct {
	Online []DeviceRef `json:"online"`
}

// DeviceRef names a device: a gateway's sub-device.
type DeviceRef struct {
	ProductID  string `json:"product_id"`
	DeviceName string `json:"device_name"`
}

// String is "PRODUCT/DEVICE".
func (r DeviceRef) String() string { return r.ProductID + "/" + r.DeviceName }

// Has reports whether ref is online.
func (s SubDevices) Has(ref DeviceRef) bool {
	for _, r := range s.Online {
		if r == ref {
			return true
		}
	}
	return false
}

// PublishSubDevices publishes s on [TopicSubDevices]: the gateway feature
// does, whenever the set changes and when asked on
// [TopicSubDevicesQuery].
func (b *Bus) PublishSubDevices(s SubDevices) error {
	m, err := NewEvent(s)
	if err != nil {
		return err
	}
	return b.Publish(TopicSubDevices, m)
}

// WatchSubDevices calls fn with the gateway's online sub-devices: the
// current set first (once a gateway answers), then each change, until ctx
// ends or the bus closes; it returns nil then. fn is called one event at a
// time, in order (see [Bus.OnSubDevices]). Without a gateway feature, fn is
// never called.
func (b *Bus) WatchSubDevices(ctx context.Context, fn func(SubDevices)) error {
	done, err := b.OnSubDevices(ctx, fn)
	if err != nil {
		return err
	}
	<-done
	return nil
}

// OnSubDevices is [Bus.WatchSubDevices] without waiting: it subscribes,
// asks for the current set and returns; done closes once fn will not be
// called any more (ctx ended or the bus closed). In process, fn runs on the
// subscription's delivery goroutine, which exists only while an event is
// queued: a device that follows its sub-devices in several places pays no
// goroutine for it while nothing changes. fn must not wait for another
// sub-device event.
func (b *Bus) OnSubDevices(ctx context.Context, fn func(SubDevices)) (done <-chan struct{}, err error) {
	done, err = b.SubscribeFunc(ctx, TopicSubDevices, func(m *message.Message) {
		m.Ack()
		var s SubDevices
		if DecodeEvent(m, &s) == nil {
			fn(s)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("bus: %w", err)
	}
	// Ask for the current set: a gateway that brought sub-devices online
	// before this subscription answers with it.
	q, err := NewEvent(struct{}{})
	if err == nil {
		err = b.Publish(TopicSubDevicesQuery, q)
	}
	if err != nil {
		return nil, fmt.Errorf("bus: %w", err)
	}
	return done, nil
}

// SubDevicesNow asks the gateway feature for the sub-devices online now;
// ErrNoReply when no gateway answers before ctx ends.
func (b *Bus) SubDevicesNow(ctx context.Context) (SubDevices, error) {
	q, err := NewEvent(struct{}{})
	if err != nil {
		return SubDevices{}, err
	}
	rep, err := b.Request(ctx, TopicSubDevicesQuery, q)
	if err != nil {
		return SubDevices{}, err
	}
	var s SubDevices
	err = DecodeEvent(rep, &s)
	return s, err
}

// SubDeviceFollower keeps the gateway's online sub-devices for a reader
// that asks now and then (the shadow feature, the daemon's topic check):
// Run follows the events, Online answers.
type SubDeviceFollower struct {
	b    *Bus
	mu   sync.Mutex
	cur  SubDevices
	seen bool // a gateway answered: it is worth asking
}

// FollowSubDevices returns a follower of b's sub-device events; call Run
// or Start.
func (b *Bus) FollowSubDevices() *SubDeviceFollower { return &SubDeviceFollower{b: b} }

// Run follows the events until ctx ends.
func (f *SubDeviceFollower) Run(ctx context.Context) error {
	return f.b.WatchSubDevices(ctx, f.set)
}

// Start follows the events until ctx ends, without a goroutine of its own
// (see [Bus.OnSubDevices]); done closes when it stopped.
func (f *SubDeviceFollower) Start(ctx context.Context) (done <-chan struct{}, err error) {
	return f.b.OnSubDevices(ctx, f.set)
}

func (f *SubDeviceFollower) set(s SubDevices) {
	f.mu.Lock()
	f.cur, f.seen = s, true
	f.mu.Unlock()
}

// Online reports whether ref is online through the gateway. When the last
// event says no but a gateway is there, it asks the gateway (at most 2 s),
// so that a sub-device brought online a moment ago is seen although its
// event is still on its way.
func (f *SubDeviceFollower) Online(ctx context.Context, ref DeviceRef) bool {
	f.mu.Lock()
	cur, seen := f.cur, f.seen
	f.mu.Unlock()
	if cur.Has(ref) || !seen {
		return cur.Has(ref)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	now, err := f.b.SubDevicesNow(ctx)
	return err == nil && now.Has(ref)
}
