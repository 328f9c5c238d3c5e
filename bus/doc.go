// Package bus is iotd's in-process message bus: a watermill publisher and
// subscriber shared by the uplink and every feature, plus the topic scheme
// they agree on and a request/reply helper.
//
// Features never touch a socket or an MQTT client. To talk to the cloud they
// use the uplink's topics (see topic.go): publish a request on
// [TopicUplinkPublish] to send a message, on [TopicUplinkSubscribe] to
// subscribe, and consume what arrives on [Downlink](filter). [Bus.CloudPublish]
// and [Bus.CloudSubscribe] wrap that protocol.
//
// The link's states (package core/linkstate) are events on
// [TopicLinkState]: core.Link reports them to a callback and knows no bus;
// whoever builds the Link passes [Bus.PublishLinkState] as that callback,
// and subscribers read them with [DecodeLinkState]. bus imports nothing of
// core but that small package, so a feature links no driver registry.
//
// # Delivery
//
// Every subscription has its own queue and a goroutine that hands it the
// queued messages one at a time: the next one once the current one is
// acknowledged. A Nack hands the same message again (at once, before the
// next), so consumers Ack messages they reject as malformed and report the
// problem instead. Every consumer must Ack (or Nack) each message it
// receives; the consumers in iotd Ack on receipt, before they act on the
// message.
//
// Order: for each topic, each subscriber gets the messages in the order
// they were published, for publishes made by one goroutine or ordered by
// happens-before (one returned before the other was called): the frames of
// a downlink burst, the states of a flapping link. Publishes made
// concurrently are ordered arbitrarily, and two subscribers may see them in
// different orders. Nothing is ordered across topics, and a message is not
// delivered to a subscription that did not exist when it was published.
//
// Limits. A publisher never waits for a subscriber (the MQTT client's
// callback publishes downlinks, the Link publishes its states, handlers
// publish before they ack): [Bus.Publish] appends to the queues and
// returns. A queue holds [Config.OutputBuffer] messages; when one is full,
// the messages that do not fit are dropped for that subscriber alone, the
// publish returns an error wrapping [ErrQueueFull], the drop is counted
// ([Bus.Dropped]) and logged. So a subscriber that falls that far behind
// loses messages (a gap, never a reordering), while the others, and other
// topics, go on. Requests ([Bus.Request], and so CloudPublish and
// CloudSubscribe when the uplink is not in-process) wait for room instead,
// until their ctx ends: their callers wait for a reply anyway. Close
// drops what is still queued; subscriber channels close and every
// delivery goroutine ends before Close returns.
//
// A subscriber that waits for something before acking (a reply to a
// request it made, a PUBACK) holds up only its own queue; replies travel on
// the bus's own reply topic, which is always read, so a request made from
// a handler that has not acked its message yet completes. What must not be
// done is to wait, before acking, for a later message of the same
// subscription: it comes only after the ack.
//
// # Backends
//
// By default (Config.Backend "" or "inprocess") the bus is this process's
// alone, as described above. With "nats" ([NewRemote] over package
// bus/natsbus, linked with the iotd_nats build tag) every publish and
// subscription goes through a NATS JetStream stream, so that buses in
// several processes, on several machines, share the topics: the uplink in
// iotd serves the requests of a feature module in a process of its own,
// and any NATS client can publish to the device's topics. Topics map to
// subjects as natsbus's documentation says (uplink.publish is
// iotd.uplink.publish). What holds there: per-topic order to each
// subscriber, the next message after the previous one's ack, a Nack's
// redelivery before the next; request/reply across processes. What
// differs: a publish waits until the stream stored the message (bounded
// by publish_timeout) instead of only queueing it, and fails when NATS is
// unreachable; a slow subscriber's messages wait in the stream (bounded
// by max_age and max_bytes, oldest dropped) instead of its queue, and
// [Bus.Dropped] stays 0; a request on a topic nobody serves waits until
// its context ends instead of failing at once with [ErrNotServing]; a
// message's context ends once it is acked; across a NATS server failure
// delivery is at least once (a message may come twice). Cloud
// subscriptions are counted per bus: two processes on one filter should
// not both unsubscribe it, as the uplink drops the filter at the first
// unsubscribe.
package bus
