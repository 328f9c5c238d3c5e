// Package bus is iotd's in-process message bus: a watermill publisher and
// subscriber (GoChannel by default) shared by the uplink and every feature,
// plus the topic scheme they agree on and a request/reply helper.
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
// Every consumer must Ack (or Nack) each message it receives: GoChannel does
// not deliver the next message to a subscriber until the current one is
// acknowledged. A Nack makes GoChannel redeliver, so consumers Ack messages
// they reject as malformed and report the problem instead.
package bus
