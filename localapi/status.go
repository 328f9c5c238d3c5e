package localapi

import "time"

// Status is the answer of GET /v1/status: what `iotd status` shows. It
// never holds a secret.
type Status struct {
	Version   string        `json:"version"`
	Uptime    time.Duration `json:"uptime_ns"`
	ProductID string        `json:"product_id"`
	Device    string        `json:"device_name"`
	AuthMode  string        `json:"auth_mode"`
	Link      LinkState     `json:"link"`
	// Channel is mqtt, coap or at-tencent.
	Channel string `json:"channel"`
	// CoAP holds the CoAP channel's token age and counters; nil on mqtt.
	CoAP *CoAPStatus `json:"coap,omitempty"`
	// ConnectedSince is when the current MQTT or CoAP session started, if connected.
	ConnectedSince time.Time     `json:"connected_since,omitzero"`
	ClockOffset    time.Duration `json:"clock_offset_ns"`
	LastSync       time.Time     `json:"last_sync,omitzero"`
	QueueDepth     int           `json:"queue_depth"`
	// Queue holds the MQTT channel's queue bounds and dead letters.
	Queue    *QueueStatus `json:"queue,omitempty"`
	Inflight int          `json:"inflight"`
	// Sessions counts the MQTT sessions established since start (the
	// first connection and every reconnection); Published the publishes by
	// final outcome. Zero on channels other than mqtt and websocket.
	Sessions      int64          `json:"sessions,omitempty"`
	Published     *PublishCounts `json:"published,omitempty"`
	Subscriptions []string       `json:"subscriptions"`
	LastError     string         `json:"last_error,omitempty"`
	// Trust is what verifies the hub's server, with warnings for trusted
	// CAs that expire within a year.
	Trust TrustStatus `json:"trust"`
	// Features holds each feature's counters, bad input included.
	Features FeatureStats `json:"features"`
	// Modems are the AT modems the drivers have open (GET /v1/status asks
	// them first, at most every 30 s).
	Modems []ModemStatus `json:"modems,omitempty"`
}

// Link states, the values of [LinkState].State.
const (
	LinkConnecting   = "connecting"
	LinkConnected    = "connected"
	LinkDisconnected = "disconnected"
	LinkStopped      = "stopped"
)

// LinkState is the connection to the hub: its state and, when it is not
// connected, why and when the next attempt is.
type LinkState struct {
	// State is one of LinkConnecting, LinkConnected, LinkDisconnected,
	// LinkStopped.
	State string `json:"state"`
	// Driver is the registry name of the driver in use.
	Driver string `json:"driver"`
	// Endpoint is the address dialled.
	Endpoint string `json:"endpoint"`
	// Attempt counts consecutive failed attempts (0 once connected).
	Attempt int `json:"attempt,omitempty"`
	// Err says why the link is not connected, when it is not.
	Err string `json:"error,omitempty"`
	// RetryIn is the wait before the next attempt, when one is scheduled.
	RetryIn time.Duration `json:"retry_in_ns,omitempty"`
	// Since is when the link entered this state.
	Since time.Time `json:"since"`
}

// CoAPStatus is the CoAP channel's part of [Status].
type CoAPStatus struct {
	// TokenAge is the age of the auth token in use; 0 when disconnected.
	TokenAge time.Duration `json:"token_age_ns"`
	Counters CoAPCounters  `json:"counters"`
}

// CoAPCounters count what happened on the CoAP channel since it started.
type CoAPCounters struct {
	// Requests counts requests sent (auth included), not retransmissions.
	Requests int64 `json:"requests"`
	// Retransmissions counts confirmable requests sent again.
	Retransmissions int64 `json:"retransmissions"`
	// Timeouts counts exchanges that got no answer in time.
	Timeouts int64 `json:"timeouts"`
	// Reauths counts auth exchanges after a 4.01 or a token refresh.
	Reauths int64 `json:"reauths"`
	// Separate counts responses that came separately.
	Separate int64 `json:"separate"`
	// Duplicates counts responses and ACKs matching no outstanding request.
	Duplicates int64 `json:"duplicates"`
	// Malformed counts datagrams that are not well-formed CoAP responses.
	Malformed int64 `json:"malformed"`
	// Refused counts 4.xx and 5.xx answers to publishes.
	Refused int64 `json:"refused"`
	// TooLarge counts publishes refused before sending for their size.
	TooLarge int64 `json:"too_large"`
}

// QueueStatus is the MQTT channel's queues in [Status].
type QueueStatus struct {
	// Memory: messages held in memory until confirmed, against
	// mqtt.queue_size and mqtt.queue_bytes.
	Memory Bound `json:"memory"`
	// Outbox: QoS 1 messages on disk until acknowledged; nil when off.
	Outbox *Bound `json:"outbox,omitempty"`
	// DeadLetters counts parked messages; Parked those parked since start.
	DeadLetters int `json:"dead_letters"`
	Parked      int `json:"parked"`
}

// PublishCounts counts publishes by what finally became of them.
type PublishCounts struct {
	// Acknowledged: the hub has it (QoS 1) or it was written (QoS 0).
	Acknowledged int64 `json:"acknowledged"`
	// Refused at acceptance (too large, queue full, a topic the hub would
	// refuse) or later (parked as a dead letter; one retried counts again).
	Refused int64 `json:"refused"`
	// NotSent: withdrawn by its publisher, dropped for newer messages, or
	// still queued when iotd stopped.
	NotSent int64 `json:"not_sent"`
}

// Bound is the use of a queue against its bounds.
type Bound struct {
	Messages    int   `json:"messages"`
	Bytes       int64 `json:"bytes"`
	MaxMessages int   `json:"max_messages"`
	MaxBytes    int64 `json:"max_bytes"`
}

// TrustStatus is the link's trust in [Status]: what verifies the server
// and when each trusted CA expires.
type TrustStatus struct {
	// From says what verifies the server (a ca_file, the bundled CAs, the
	// system roots).
	From string `json:"from"`
	// SystemRoots is set when the system roots are trusted too.
	SystemRoots bool `json:"system_roots,omitempty"`
	// CAs are the CA certificates trusted besides the system roots.
	CAs []TrustedCA `json:"cas,omitempty"`
	// Warnings name the CAs that expire within a year (or have expired).
	Warnings []string `json:"warnings,omitempty"`
}

// TrustedCA is one trusted CA certificate.
type TrustedCA struct {
	Subject  string    `json:"subject"`
	NotAfter time.Time `json:"not_after"`
	// Bundled is its file in core/hub/certs when it is bundled with iotd.
	Bundled string `json:"bundled,omitempty"`
}

// FeatureStats are the features' counters in [Status]. A feature the
// daemon's build left out (built with -tags iotd_omit_<name>) has no
// section: its field is nil and its key absent. A feature that is built
// but off still reports (OTA says Disabled).
type FeatureStats struct {
	Shadow    *ShadowStats    `json:"shadow,omitempty"`
	RRPC      *RRPCStats      `json:"rrpc,omitempty"`
	Broadcast *BroadcastStats `json:"broadcast,omitempty"`
	OTA       *OTAStatus      `json:"ota,omitempty"`
	Gateway   *GatewayStats   `json:"gateway,omitempty"`
	// SubDeviceOTA is the OTA state of each online sub-device that has
	// one, by "PRODUCT/DEVICE".
	SubDeviceOTA map[string]OTAStatus `json:"sub_device_ota,omitempty"`
	// LogUpload is nil when log upload is off.
	LogUpload *LogUploadStats `json:"logupload,omitempty"`
}

// ShadowStats count what the shadow did and what it refused.
type ShadowStats struct {
	// Requests sent; Rejected got a non-zero result; Timeouts got none in
	// time; Busy were refused locally because too many were waiting.
	Requests uint64 `json:"requests"`
	Rejected uint64 `json:"rejected"`
	Timeouts uint64 `json:"timeouts"`
	Busy     uint64 `json:"busy"`
	// Conflicts counts 5005 results that led to a re-read and a retry.
	Conflicts uint64 `json:"conflicts"`
	// DeltasApplied counts deltas handed to the handlers; Stale counts
	// pushed deltas dropped for a version not above the local one.
	DeltasApplied uint64 `json:"deltas_applied"`
	Stale         uint64 `json:"stale"`
	// Unregistered counts delta properties with no handler.
	Unregistered uint64 `json:"unregistered"`
	// HandlerErrors counts handlers that returned an error or panicked.
	HandlerErrors uint64 `json:"handler_errors"`
	// WatchDropped counts deltas not delivered to a slow watcher.
	WatchDropped uint64 `json:"watch_dropped"`
	// Malformed, UnknownType and TooLarge count messages dropped on
	// receipt; Orphaned counts results for no waiting request.
	Malformed   uint64 `json:"malformed"`
	UnknownType uint64 `json:"unknown_type"`
	TooLarge    uint64 `json:"too_large"`
	Orphaned    uint64 `json:"orphaned"`
}

// RRPCStats are the RRPC feature's counters. (Their JSON names are
// camelCase, as they always were.)
type RRPCStats struct {
	Requests        int64 `json:"requests"`
	Replies         int64 `json:"replies"`
	Timeouts        int64 `json:"timeouts"`
	Malformed       int64 `json:"malformed"`
	HookFailures    int64 `json:"hookFailures"`
	Dropped         int64 `json:"dropped"`
	SubscriberDrops int64 `json:"subscriberDrops"`
	ReplyErrors     int64 `json:"replyErrors"`
	// Pending is the number of requests waiting for a reply now.
	Pending int `json:"pending"`
	// Subscribers is the number of local subscribers now.
	Subscribers int `json:"subscribers"`
}

// BroadcastStats are the broadcast feature's counters.
type BroadcastStats struct {
	Received        int64 `json:"received"`
	HookRuns        int64 `json:"hookRuns"`
	HookFailures    int64 `json:"hookFailures"`
	Dropped         int64 `json:"dropped"`
	SubscriberDrops int64 `json:"subscriberDrops"`
	// Subscribers is the number of local subscribers now.
	Subscribers int `json:"subscribers"`
}

// GatewayStats count what the gateway did and what it refused.
type GatewayStats struct {
	Requests         uint64 `json:"requests"`
	Succeeded        uint64 `json:"succeeded"`
	Rejected         uint64 `json:"rejected"`
	Timeouts         uint64 `json:"timeouts"`
	Restores         uint64 `json:"restores"`
	RestoreFailures  uint64 `json:"restore_failures"`
	Malformed        uint64 `json:"malformed"`
	UnknownType      uint64 `json:"unknown_type"`
	TooLarge         uint64 `json:"too_large"`
	BadEntries       uint64 `json:"bad_entries"`
	UnknownSubDevice uint64 `json:"unknown_sub_device"`
	Orphaned         uint64 `json:"orphaned"`
	// Online is the number of sub-devices online now.
	Online int `json:"online"`
}

// LogUploadStats are the log uploader's counters.
type LogUploadStats struct {
	// Level is the upload level in force (-1: nothing is uploaded).
	Level             int    `json:"level"`
	Accepted          int64  `json:"accepted"`
	Dropped           int64  `json:"dropped"`
	Truncated         int64  `json:"truncated"`
	Uploaded          int64  `json:"uploaded"`
	Posts             int64  `json:"posts"`
	PostErrors        int64  `json:"postErrors"`
	BadAnswers        int64  `json:"badAnswers"`
	Spooled           int    `json:"spooled"`
	SpooledBytes      int    `json:"spooledBytes"`
	SpoolDropped      int64  `json:"spoolDropped"`
	SpoolDroppedLines int64  `json:"spoolDroppedLines"`
	SpoolErrors       int64  `json:"spoolErrors"`
	LevelUpdates      int64  `json:"levelUpdates"`
	LastError         string `json:"lastError,omitempty"`
}

// Probe states, the values of [ProbeResult].State.
const (
	ProbeLoaded  = "loaded"
	ProbeSkipped = "skipped"
	ProbeFailed  = "failed"
)

// ProbeResult is one driver in the answer of GET /v1/drivers.
type ProbeResult struct {
	Name string `json:"name"`
	// Transports are "stream" and/or "datagram".
	Transports []string `json:"transports"`
	Version    string   `json:"version,omitempty"`
	// State is ProbeLoaded, ProbeSkipped or ProbeFailed.
	State string `json:"state"`
	// Err is the probe's error text when skipped or failed.
	Err      string        `json:"error,omitempty"`
	Duration time.Duration `json:"duration_ns"`
}
