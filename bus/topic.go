package bus

// The topic scheme. Bus topics are dot-separated lowercase words, except
// downlink topics, which embed the MQTT filter they carry verbatim so that one
// bus topic corresponds to one cloud subscription.
const (
	// TopicUplinkPublish carries requests to send a message to the cloud.
	// Metadata: [MetaTopic] (cloud topic, required), [MetaQoS] ("0" or "1",
	// default "0"), [MetaWait] ("ack", the default, or "stored"). Payload:
	// the message body. The reply (see [Bus.Request]) carries a [Result] in
	// [MetaResult]: acknowledged once the message was written (QoS 0) or
	// PUBACKed (QoS 1); stored once it is queued, for a request that waits
	// only for that (a QoS 1 message is then on disk when the uplink has an
	// outbox); refused or not_sent with the reason in [MetaError]. While the
	// uplink is disconnected messages wait in its bounded queue; a publish
	// that does not fit is refused at once. A request with [MetaWithdraw]
	// set withdraws an earlier one whose publisher gave up (see
	// [Bus.CloudPublishWith]). Requests are served in order.
	TopicUplinkPublish = "uplink.publish"

	// TopicUplinkSubscribe carries requests to subscribe to a cloud filter
	// (MQTT wildcards + and # allowed). Metadata: [MetaFilter], [MetaQoS].
	// The reply comes once the broker acknowledged the subscription (or, when
	// disconnected, once the subscription is recorded; it is then made on
	// connect). Subscriptions are restored after every reconnect. Messages
	// that match are published on [Downlink](filter).
	TopicUplinkSubscribe = "uplink.subscribe"

	// TopicUplinkUnsubscribe carries requests to drop a subscription made
	// with TopicUplinkSubscribe. Metadata: [MetaFilter]. Only that filter is
	// removed (unlike the C SDK, which drops every handler for a wildcard).
	TopicUplinkUnsubscribe = "uplink.unsubscribe"

	// TopicLinkState carries [linkstate.State] events whenever the uplink's
	// connection changes state: the Link's, published by
	// [Bus.PublishLinkState], or a module's that is its own link. Read them
	// with [DecodeLinkState].
	TopicLinkState = "link.state"

	// TopicClockOffset carries [ClockOffset] events from the time sync
	// feature after every successful sync.
	TopicClockOffset = "timesync.offset"

	// TopicSubDevices carries [SubDevices] events from the gateway
	// feature: the sub-devices online through this gateway, whenever that
	// set changes and when asked on TopicSubDevicesQuery. Follow them with
	// [Bus.WatchSubDevices].
	TopicSubDevices = "gateway.subdevices"
	// TopicSubDevicesQuery asks the gateway feature to publish the current
	// set on TopicSubDevices; the payload is ignored.
	TopicSubDevicesQuery = "gateway.subdevices.query"

	// TopicReply is the prefix of the per-bus reply topic used by
	// [Bus.Request]; nothing else publishes there.
	TopicReply = "bus.reply"

	downlinkPrefix = "downlink:"
)

// Downlink returns the bus topic on which messages received from the cloud
// for the subscription filter are published. Metadata of such messages:
// [MetaTopic] (the concrete topic the message arrived on), [MetaQoS].
func Downlink(filter string) string { return downlinkPrefix + filter }

// Metadata keys used on the topics above.
const (
	MetaTopic         = "topic"
	MetaQoS           = "qos"
	MetaFilter        = "filter"
	MetaError         = "error"
	MetaReplyTo       = "reply_to"
	MetaCorrelationID = "correlation_id"
	MetaContentType   = "content_type"
	MetaSchema        = "schema"
)
