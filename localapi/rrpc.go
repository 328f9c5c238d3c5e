package localapi

import "time"

// RRPCRequest is one line of GET /v1/rrpc/requests: a request from the
// cloud waiting for POST /v1/rrpc/reply before Deadline.
type RRPCRequest struct {
	ProcessID     string    `json:"process_id"`
	Topic         string    `json:"topic"`
	Payload       string    `json:"payload,omitempty"`
	PayloadBase64 string    `json:"payload_base64,omitempty"`
	Received      time.Time `json:"received"`
	Deadline      time.Time `json:"deadline"`
}

// RRPCReply is the body of POST /v1/rrpc/reply.
type RRPCReply struct {
	ProcessID     string `json:"process_id"`
	Payload       string `json:"payload,omitempty"`
	PayloadBase64 string `json:"payload_base64,omitempty"`
}

// BroadcastMessage is one line of GET /v1/broadcast.
type BroadcastMessage struct {
	Topic         string    `json:"topic"`
	Payload       string    `json:"payload,omitempty"`
	PayloadBase64 string    `json:"payload_base64,omitempty"`
	Received      time.Time `json:"received"`
}
