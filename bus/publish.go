package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
)

// Result is what became of a cloud publish, as the uplink reports it in the
// reply's [MetaResult]. A publisher is never told a message failed while it
// may still go out.
type Result string

const (
	// Acknowledged: a QoS 1 message got its PUBACK; a QoS 0 one was written.
	Acknowledged Result = "acknowledged"
	// Stored: the message is queued (a QoS 1 one in the durable outbox when
	// there is one) and will be sent; nobody is waiting for its PUBACK.
	Stored Result = "stored"
	// Refused: the uplink will never send the message; the reply's
	// [MetaError] says why (too large, queue full, parked as a dead letter).
	Refused Result = "refused"
	// NotSent: the message was withdrawn, or the uplink stopped, before it
	// went out; it will not be sent.
	NotSent Result = "not_sent"
)

// Errors a publish returns; they wrap the uplink's reason.
var (
	// ErrRefused: the uplink refused the message and will never send it.
	ErrRefused = errors.New("refused")
	// ErrNotSent: the message was not sent and will not be.
	ErrNotSent = errors.New("not sent")
	// ErrPending is returned by [Bus.CloudPublish] when ctx ended while the
	// message was already on its way: it was not acknowledged yet and will
	// still be sent. It is not a failure to retry.
	ErrPending = errors.New("not acknowledged yet; still queued and will be sent")
	// ErrNotServing: no uplink serves the bus (it has not started or has
	// stopped), so nothing can be queued.
	ErrNotServing = errors.New("no uplink is running")
)

// Metadata keys of the publish protocol (see [TopicUplinkPublish]).
const (
	// MetaWait on a publish request: "ack" (default) to be answered once
	// the message is acknowledged, "stored" to be answered once it is
	// queued (for QoS 1: on disk, when the uplink has a durable outbox).
	MetaWait = "wait"
	// MetaResult on a publish reply: a [Result].
	MetaResult = "result"
	// MetaWithdraw on a publish request turns it into a withdrawal of the
	// earlier request whose message UUID it holds. The reply's result is
	// [NotSent] when the message was taken out of the queue, [Stored] when
	// it is already on the wire (it will complete), [Acknowledged] when it
	// already did.
	MetaWithdraw = "withdraw"
)

// DirectPublisher is an uplink in the same process as the bus: publishes
// reach it by a call instead of a request and a reply through watermill.
// Publish has [Bus.CloudPublishWith]'s contract, except that its error is
// the bare reason (the bus adds the topic and the sentinel).
type DirectPublisher interface {
	Publish(ctx context.Context, topic string, payload []byte, o PublishOptions) (Result, error)
}

// SetDirect makes p the bus's direct path for [Bus.CloudPublishWith] until
// the returned function is called. Requests on [TopicUplinkPublish] from
// other publishers are still served by the uplink's Serve loop.
func (b *Bus) SetDirect(p DirectPublisher) (unset func()) {
	b.direct.Store(&p)
	return func() { b.direct.CompareAndSwap(&p, nil) }
}

// Submitter is a direct uplink that also takes a publish without waiting
// for its outcome, for a caller that keeps many in flight in order (the
// local API's publish stream). Submit queues the message under id (unique:
// the caller's prefix plus a counter) in the order of the calls, and calls
// done once with its outcome, from the uplink's goroutines (done must not
// block); a refusal at once is Submit's error, and done is not called.
// Withdraw takes a message that has not gone out back, as [Bus] does for a
// publisher that gave up; answered reports that done was or will be called.
type Submitter interface {
	Submit(id, topic string, payload []byte, o PublishOptions, done func(Result, error)) error
	Withdraw(id string) (res Result, answered bool)
}

// Submitter returns the direct uplink when it is a [Submitter], else nil
// (no uplink in this process, or one without it: use [TopicUplinkPublish]).
func (b *Bus) Submitter() Submitter {
	if d := b.direct.Load(); d != nil {
		if s, ok := (*d).(Submitter); ok {
			return s
		}
	}
	return nil
}

// PublishOptions shape [Bus.CloudPublishWith].
type PublishOptions struct {
	// QoS is 0 or 1.
	QoS byte
	// NoWait returns once the message is stored instead of acknowledged.
	NoWait bool
}

// withdrawTimeout bounds the wait for the uplink to answer a withdrawal.
const withdrawTimeout = 5 * time.Second

// CloudPublishWith sends payload to the cloud topic through the uplink. It
// returns [Acknowledged], or [Stored] with NoWait, with a nil error. When ctx
// ends first, the message is withdrawn if it has not gone out yet ([NotSent]
// and an error wrapping [ErrNotSent] and ctx's cause); if it is already on
// the wire the result is [Stored] and the error nil: it will be sent. A
// refusal is [Refused] with an error wrapping [ErrRefused].
func (b *Bus) CloudPublishWith(ctx context.Context, topic string, payload []byte, o PublishOptions) (Result, error) {
	if d := b.direct.Load(); d != nil {
		res, reason := (*d).Publish(ctx, topic, payload, o)
		switch res {
		case Acknowledged, Stored:
			return res, nil
		case NotSent:
			return NotSent, fmt.Errorf("publish %s: %w: %w", topic, ErrNotSent, reason)
		}
		return Refused, fmt.Errorf("publish %s: %w", topic, refusal{reason})
	}
	if !b.served(TopicUplinkPublish) {
		return Refused, fmt.Errorf("publish %s: %w", topic, refusal{ErrNotServing})
	}
	m := message.NewMessage(watermill.NewUUID(), payload)
	m.Metadata.Set(MetaTopic, topic)
	m.Metadata.Set(MetaQoS, strconv.Itoa(int(o.QoS)))
	if o.NoWait {
		m.Metadata.Set(MetaWait, "stored")
	}
	rep, err := b.Request(ctx, TopicUplinkPublish, m)
	if errors.Is(err, ErrNoReply) && ctx.Err() != nil {
		return b.withdraw(m.UUID, topic, context.Cause(ctx))
	}
	return publishOutcome(topic, rep, err)
}

// refusal is the uplink's reason for refusing a message; it is
// [ErrRefused] to errors.Is without adding words to the reason.
type refusal struct{ error }

func (r refusal) Is(target error) bool { return target == ErrRefused }
func (r refusal) Unwrap() error        { return r.error }

// publishOutcome reads a publish reply. A reply without [MetaResult] (an
// uplink that predates it) means acknowledged, or refused with an error.
func publishOutcome(topic string, rep *message.Message, err error) (Result, error) {
	if rep == nil {
		return NotSent, fmt.Errorf("publish %s: %w: %w", topic, ErrNotSent, err)
	}
	res := Result(rep.Metadata.Get(MetaResult))
	switch {
	case res == NotSent:
		return NotSent, fmt.Errorf("publish %s: %w: %s", topic, ErrNotSent, rep.Metadata.Get(MetaError))
	case err != nil:
		return Refused, fmt.Errorf("publish %s: %w", topic, refusal{err})
	case res == "":
		return Acknowledged, nil
	}
	return res, nil
}

// withdraw asks the uplink to take message id out of its queue after its
// publisher gave up.
func (b *Bus) withdraw(id, topic string, cause error) (Result, error) {
	m := message.NewMessage(watermill.NewUUID(), nil)
	m.Metadata.Set(MetaWithdraw, id)
	ctx, cancel := context.WithTimeout(context.Background(), withdrawTimeout)
	defer cancel()
	rep, err := b.Request(ctx, TopicUplinkPublish, m)
	if err != nil {
		// Nobody answers: the uplink is gone and with it its queue; an
		// outbox keeps a QoS 1 message for the next run.
		return NotSent, fmt.Errorf("publish %s: %w: %w (and the withdrawal was not answered: %w)", topic, ErrNotSent, cause, err)
	}
	switch res := Result(rep.Metadata.Get(MetaResult)); res {
	case Acknowledged, Stored:
		return res, nil
	default:
		return NotSent, fmt.Errorf("publish %s: %w: %w", topic, ErrNotSent, cause)
	}
}

// CloudPublish sends payload to the cloud topic through the uplink and waits
// until it was sent (QoS 0) or acknowledged (QoS 1). When ctx ends first it
// returns an error wrapping [ErrNotSent] (withdrawn) or [ErrPending] (on
// the wire; it will still be sent).
func (b *Bus) CloudPublish(ctx context.Context, topic string, payload []byte, qos byte) error {
	res, err := b.CloudPublishWith(ctx, topic, payload, PublishOptions{QoS: qos})
	if err == nil && res == Stored {
		return fmt.Errorf("publish %s: %w (%w)", topic, ErrPending, context.Cause(ctx))
	}
	return err
}

// PublishReply answers a publish request with res; reason is the error
// text for [Refused] and [NotSent]. Uplinks use it.
func (b *Bus) PublishReply(req *message.Message, res Result, reason error) error {
	rep := message.NewMessage(watermill.NewUUID(), nil)
	rep.Metadata.Set(MetaResult, string(res))
	if reason != nil {
		rep.Metadata.Set(MetaError, reason.Error())
	}
	return b.Reply(req, rep)
}
