// Package natsbus is the bus's NATS JetStream backend: a watermill
// Publisher and Subscriber ([PubSub]) over one NATS connection and one
// JetStream stream, which package bus uses as its [bus.Remote] when the
// configuration says `bus: {backend: nats, ...}` (linked into iotd with
// the iotd_nats build tag; see README's "The bus on NATS"). Every process
// whose bus is on the same stream shares the topics: a feature module in
// a process of its own talks to the uplink in iotd, and any NATS client
// can publish to the device's topics.
//
// It does not import package bus, so that bus can link it; natsconf holds
// its configuration.
//
// # Subjects
//
// A bus topic maps to one literal subject under the configured prefix
// (default "iotd"), reversibly ([Subject], [Topic]; fuzzed):
//
//   - a topic is split at its dots, and each part becomes one subject
//     token: uplink.publish is iotd.uplink.publish, bus.reply.<id> is
//     iotd.bus.reply.<id>, link.state is iotd.link.state;
//   - a downlink topic, "downlink:" and an MQTT filter (bus.Downlink),
//     becomes the token _dl followed by one token per level of the filter
//     (split at '/'): downlink:$thing/down/property/P/D is
//     iotd._dl._24thing.down.property.P.D;
//   - within a token, letters, digits and '-' stand for themselves; every
//     other byte ('_' included) is '_' and two upper-case hex digits, so
//     '$' is _24, '+' _2B, '#' _23, '/' _2F, '.' _2E, '*' _2A, '>' _3E, a
//     space _20; an empty part is a lone '_'.
//
// So no subject holds a wildcard or a character NATS reserves, MQTT's '+'
// and '#' in a downlink filter are literal (the bus topic is the filter),
// and _dl cannot come from any other topic ('l' is not a hex digit).
// Wildcards work on the structure: iotd.uplink.> is every uplink request,
// iotd._dl.> every downlink.
//
// # Wire format
//
// A message is one JetStream message: the payload as its data, the UUID
// in the header _watermill_message_uuid (watermill-nats's, so its
// consumers read ours), each metadata key as a header of that name. A
// value a header cannot carry as it is (control characters such as a
// newline, spaces at either end) is sent in base64 and its key listed in
// the header Iotd-Base64. Metadata keys must be valid header names (no
// spaces or ':'), and Nats-* headers are left out both ways. A message
// from a bare NATS client without a UUID gets a new one; its plain
// headers are the metadata (topic, qos, reply_to, correlation_id for a
// request on iotd.uplink.publish).
//
// # Delivery
//
// The stream (default IOTD, subjects "<prefix>.>") is created when missing
// (an existing one gets "<prefix>.>" added to its subjects when they do not
// cover it, so that devices under prefixes of their own share it) with
// the configured retention (interest by default: a message goes
// once every subscription that existed when it was published acked it,
// and at once when there is none), storage, max age and size, and
// replicas. A Publish returns once the stream acknowledged each message:
// it is then stored on a quorum of the replicas.
//
// Each Subscribe creates an ephemeral pull consumer filtered on the
// topic's subject that delivers the messages published from then on, with
// explicit acks and up to 64 messages in flight from the server. One
// goroutine hands them to the subscriber one at a time, the next once the
// previous one was acked; a Nack hands the same message again at once
// (locally: the server is not told), so each subscriber gets a topic's
// messages in the order the stream stored them, which is the order of
// publishes made one after the other. While the subscriber holds a message
// the server is told it is in progress, so ack_wait bounds only the
// redelivery after a crash. A message's context ends once it is acked or
// nacked, or the subscription ends (watermill's convention).
//
// When the consumer is lost (its server went away: two missed heartbeats
// of its pull, and the server no longer knows it) a new one starts after
// the last message acked; what was delivered but not acked comes again.
// So across a server failure delivery is at least once: a message may
// come twice, and after one that came again order holds from there on.
// Nothing the stream acknowledged is lost while a quorum of its replicas
// survives (the cluster test kills the stream's leader mid-stream).
//
// [Outbox] is the uplink's durable outbox (an outbox.Store) in a stream of
// its own per device, next to the bus's: see its documentation for the
// layout (pending messages, dead letters and attempts markers as messages
// with headers) and the guarantees.
package natsbus
