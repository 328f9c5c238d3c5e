package device

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/localapi"
)

// Result is what became of a publish.
type Result = localapi.PublishResult

// The results of [Device.Publish].
const (
	// Acknowledged: the hub has it (QoS 1), or it was written (QoS 0).
	Acknowledged = localapi.Acknowledged
	// Stored: queued (a QoS 1 message in the durable outbox when there is
	// one) and on its way; it will be sent. Do not publish it again.
	Stored = localapi.Stored
	// Refused: it will never be sent (too large, queue full, a topic the
	// hub would refuse, no uplink running).
	Refused = localapi.Refused
	// NotSent: withdrawn before it went out (ctx ended); it is safe to
	// publish it again.
	NotSent = localapi.NotSent
)

// Errors a publish wraps; test with errors.Is.
var (
	// ErrRefused: the message will never be sent.
	ErrRefused = bus.ErrRefused
	// ErrNotSent: the message was withdrawn before it went out.
	ErrNotSent = bus.ErrNotSent
	// ErrNotRunning: the device is not running (before Run, or after it
	// returned), so nothing can be queued.
	ErrNotRunning = bus.ErrNotServing
)

// Publish sends payload to topic with QoS 0 or 1 and waits until the hub
// acknowledged it (QoS 1) or it was written (QoS 0). A short topic without
// a slash ("event") is the device's own ("{product}/{device}/event").
//
// It never waits longer than ctx: while the device is offline the message
// waits in the uplink's queue (QoS 1 in the durable outbox when there is
// one); when ctx ends first, a message not yet on the wire is withdrawn
// (NotSent, an error wrapping ErrNotSent) and one already on the wire is
// reported Stored with a nil error: it will be sent. A refusal (a topic the
// hub would refuse for this device, too large, queue full) is Refused with
// an error wrapping ErrRefused; before Run and after it, the error also
// wraps ErrNotRunning, at once.
func (d *Device) Publish(ctx context.Context, topic string, payload []byte, qos byte) (Result, error) {
	topic = d.ExpandTopic(topic)
	if err := d.CheckTopic(topic, false); err != nil {
		return Refused, fmt.Errorf("publish %s: %w: %w", topic, ErrRefused, err)
	}
	if qos > 1 {
		return Refused, fmt.Errorf("publish %s: %w: qos %d: the hub supports 0 and 1", topic, ErrRefused, qos)
	}
	res, err := d.bus.CloudPublishWith(ctx, topic, payload, bus.PublishOptions{QoS: qos})
	return Result(res), err
}

// Message is a message the hub sent to a subscription.
type Message struct {
	// Topic is the concrete topic it arrived on.
	Topic   string
	Payload []byte
	QoS     byte
	// ReceivedAt is when the device received it.
	ReceivedAt time.Time
}

// Subscription is a subscription made with [Device.Subscribe].
type Subscription struct {
	filter string
	cancel context.CancelFunc
	done   chan struct{}
}

// Filter returns the subscribed filter, expanded.
func (s *Subscription) Filter() string { return s.filter }

// Cancel ends the subscription: no call of its handler starts afterwards
// (one in progress finishes; Done says when). When it was the last local
// subscriber of its filter, the device unsubscribes from the hub. Cancel
// may be called more than once, and from the handler.
func (s *Subscription) Cancel() { s.cancel() }

// Done is closed once the subscription ended (cancelled, its ctx ended, or
// the device stopped) and its handler returned for the last time.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Subscribe subscribes to filter (MQTT wildcards + and # allowed; a short
// filter without a slash is the device's own, as in Publish) with QoS 0 or
// 1 and calls handler with each message, one at a time and in order, from
// a goroutine of its own, until the subscription is cancelled or ctx ends.
// A slow handler holds up only its own subscription; messages that would
// overflow its queue are dropped and counted by the bus.
//
// It returns once the uplink recorded the subscription (at once while
// offline: it is made when the session comes up, and made again after
// every reconnect). Before Run it waits for the device to start, bounded
// by ctx. Local subscribers of one filter share one cloud subscription,
// dropped when the last of them ends.
func (d *Device) Subscribe(ctx context.Context, filter string, qos byte, handler func(Message)) (*Subscription, error) {
	filter = d.ExpandTopic(filter)
	if err := d.CheckTopic(filter, true); err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", filter, err)
	}
	if qos > 1 {
		return nil, fmt.Errorf("subscribe %s: qos %d: the hub supports 0 and 1", filter, qos)
	}
	if handler == nil {
		return nil, errors.New("subscribe: handler is nil")
	}
	select {
	case <-d.ready:
	case <-ctx.Done():
		return nil, fmt.Errorf("subscribe %s: the device is not running: %w", filter, context.Cause(ctx))
	}
	sctx, cancel := context.WithCancel(ctx)
	ch, err := d.bus.CloudSubscribe(sctx, filter, qos)
	if err != nil {
		cancel()
		return nil, err
	}
	s := &Subscription{filter: filter, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for m := range ch {
			m.Ack()
			if sctx.Err() != nil {
				continue // drain: the bus closes ch
			}
			q, _ := strconv.Atoi(m.Metadata.Get(bus.MetaQoS))
			handler(Message{Topic: m.Metadata.Get(bus.MetaTopic), Payload: m.Payload, QoS: byte(q), ReceivedAt: time.Now()})
		}
	}()
	return s, nil
}

// Status reports the device's state: identity, link, session, queues,
// trust and each feature's section. Version is left empty (the daemon
// fills its own); Modems too.
func (d *Device) Status() localapi.Status {
	d.mu.Lock()
	started := d.started
	d.mu.Unlock()
	st := localapi.Status{
		ProductID:   d.device.ProductID,
		Device:      d.device.DeviceName,
		AuthMode:    d.device.AuthMode,
		Link:        linkStateToWire(d.linkState()),
		ClockOffset: d.clock.Offset(),
		LastSync:    d.clock.LastSync(),
		Trust:       d.contact.Trust.Status(d.clock.Now()),
		Features:    d.featureStatus(),
	}
	if !started.IsZero() {
		st.Uptime = time.Since(started)
	}
	d.uplinkStatus(&st)
	if st.Subscriptions == nil {
		st.Subscriptions = []string{}
	}
	return st
}

// linkStateToWire maps the link's state to the wire's plain strings.
func linkStateToWire(s bus.LinkState) localapi.LinkState {
	return localapi.LinkState{State: string(s.State), Driver: s.Driver, Endpoint: s.Endpoint, Attempt: s.Attempt,
		Err: s.Err, RetryIn: s.RetryIn, Since: s.Since}
}

// ExpandTopic turns a short topic without a slash ("event") into the
// device's own topic ("{pid}/{dn}/event"); other topics pass unchanged.
func (d *Device) ExpandTopic(t string) string {
	return ExpandTopic(t, d.device.ProductID, d.device.DeviceName)
}

// ExpandTopic is [Device.ExpandTopic] for a given device.
func ExpandTopic(t, productID, deviceName string) string {
	if t != "" && !strings.Contains(t, "/") && !strings.HasPrefix(t, "$") {
		return productID + "/" + deviceName + "/" + t
	}
	return t
}

// CheckTopic refuses, before anything reaches the hub, a topic the hub
// would refuse for this device: the hub lets a device use only
// "{pid}/{dn}/..." and system topics that name it ("$shadow/operation/{pid}/{dn}").
// Publishing QoS 1 to a refused topic makes the hub drop the connection, so
// this check keeps one bad request from turning into a reconnect loop.
// A gateway may also use the topics of its online sub-devices.
func (d *Device) CheckTopic(topic string, filter bool) error {
	err := CheckTopic(topic, d.device.ProductID, d.device.DeviceName, filter)
	if err == nil {
		return err
	}
	// A sub-device's topic: its names are the topic's first two levels, or
	// two levels of a system topic.
	segs := strings.Split(topic, "/")
	for i := 0; i+1 < len(segs); i++ {
		ref := bus.DeviceRef{ProductID: segs[i], DeviceName: segs[i+1]}
		if (i == 0 || strings.HasPrefix(topic, "$")) && CheckTopic(topic, ref.ProductID, ref.DeviceName, filter) == nil &&
			d.subDevices.Online(context.Background(), ref) {
			return nil
		}
	}
	return err
}

// CheckTopic is [Device.CheckTopic] for a given device.
func CheckTopic(topic, productID, deviceName string, filter bool) error {
	if topic == "" {
		return errors.New("topic: empty")
	}
	segs := strings.Split(topic, "/")
	if filter {
		for i, s := range segs {
			if (strings.Contains(s, "+") && s != "+") || (strings.Contains(s, "#") && (s != "#" || i != len(segs)-1)) {
				return fmt.Errorf("filter %q: '+' must fill a whole level and '#' must be the whole last level", topic)
			}
		}
		// Wildcards are fine in a filter; check the rest as a topic.
		if err := core.ValidateTopic(strings.NewReplacer("+", "x", "#", "x").Replace(topic)); err != nil {
			return err
		}
	} else if err := core.ValidateTopic(topic); err != nil {
		return err
	}
	own := productID + "/" + deviceName
	if strings.HasPrefix(topic, "$") {
		for i := 1; i+1 < len(segs); i++ {
			if segs[i] == productID && segs[i+1] == deviceName {
				return nil
			}
		}
	} else if len(segs) >= 3 && segs[0] == productID && segs[1] == deviceName {
		return nil
	}
	return fmt.Errorf("topic %q does not belong to this device: the hub allows only %s/... and system topics naming %s", topic, own, own)
}
