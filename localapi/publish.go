package localapi

import "time"

// MaxRequestBody is the local API's limit on a request body, and the CLI's
// on what it reads from stdin for one: the same number, so that what the CLI
// accepts the API does too.
const MaxRequestBody = 1 << 20

// PublishRequest is the body of POST /v1/publish. Exactly one of Payload and
// PayloadBase64 may be set.
type PublishRequest struct {
	// Topic without a slash is the device's own: "event" means
	// "{productId}/{deviceName}/event".
	Topic         string `json:"topic"`
	Payload       string `json:"payload,omitempty"`
	PayloadBase64 string `json:"payload_base64,omitempty"`
	QoS           int    `json:"qos"`
	// NoWait answers once the message is stored (QoS 1: on disk when the
	// outbox is on) instead of acknowledged.
	NoWait bool `json:"no_wait,omitempty"`
	// Timeout is how long to wait for the acknowledgement, in
	// milliseconds (0: as long as the client's connection stays). When it
	// passes, a message that has not gone out is withdrawn and the answer
	// is not_sent; one already on the wire is answered stored.
	Timeout int64 `json:"timeout_ms,omitempty"`
}

// PublishResult is what became of a publish.
type PublishResult string

// The publish results.
const (
	// Acknowledged: the hub has it (QoS 1), or it was written (QoS 0).
	Acknowledged PublishResult = "acknowledged"
	// Stored: queued and on its way; it will be sent. Do not publish it again.
	Stored PublishResult = "stored"
	// Refused: it will never be sent (too large, queue full, ...).
	Refused PublishResult = "refused"
	// NotSent: withdrawn before it went out; it is safe to publish it again.
	NotSent PublishResult = "not_sent"
)

// PublishResponse is the answer of POST /v1/publish. Error says why a
// message was refused or not sent.
type PublishResponse struct {
	// Topic is the topic as expanded.
	Topic  string        `json:"topic"`
	Result PublishResult `json:"result"`
	Error  string        `json:"error,omitempty"`
}

// Message is one received message on a GET /v1/subscribe stream. Payload
// holds the body when it is valid UTF-8, PayloadBase64 otherwise.
type Message struct {
	Topic         string    `json:"topic"`
	QoS           int       `json:"qos"`
	Payload       string    `json:"payload,omitempty"`
	PayloadBase64 string    `json:"payload_base64,omitempty"`
	ReceivedAt    time.Time `json:"received_at"`
}

// UnsubscribeResult answers DELETE /v1/subscribe.
type UnsubscribeResult struct {
	// Filter is the filter as expanded ("event" → "{pid}/{dn}/event").
	Filter string `json:"filter"`
	// WasSubscribed tells whether the uplink held the filter (an
	// acknowledged subscription) before the request.
	WasSubscribed bool `json:"was_subscribed"`
	// LocalSubscribers counts the local holders of the filter (/v1/subscribe
	// streams, iotd's features). Their streams stay open but receive nothing
	// more for it until someone subscribes to it again.
	LocalSubscribers int `json:"local_subscribers"`
}

// LogLine is the body of POST /v1/log: a line a local application wants
// uploaded with iotd's own.
type LogLine struct {
	// Level is debug, info, warn or error.
	Level string `json:"level"`
	// Source names the application (shown where the C SDK puts file/func).
	Source string `json:"source,omitempty"`
	Text   string `json:"text"`
}

// LogResult answers POST /v1/log: whether the uploader took the line (its
// queue may be full).
type LogResult struct {
	Accepted bool `json:"accepted"`
}
