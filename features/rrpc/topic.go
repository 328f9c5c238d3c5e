package rrpc

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxProcessIDLen is the longest process id (PROTOCOL.md §2.7).
const MaxProcessIDLen = 16

// ErrMalformedTopic is wrapped by [ParseRequestTopic] errors.
var ErrMalformedTopic = errors.New("rrpc: malformed request topic")

// RequestFilter is the subscription for device pid/dn's requests.
func RequestFilter(pid, dn string) string { return "$rrpc/rxd/" + pid + "/" + dn + "/+" }

// ReplyTopic is where the reply to request processID of device pid/dn goes.
func ReplyTopic(pid, dn, processID string) string {
	return "$rrpc/txd/" + pid + "/" + dn + "/" + processID
}

// ParseRequestTopic returns the process id of a request topic of device
// pid/dn: the last level of `$rrpc/rxd/{pid}/{dn}/{processId}`. The id must
// be 1 to [MaxProcessIDLen] bytes of UTF-8 that can be used as a topic level
// of the reply (no '/', '+', '#' or NUL).
func ParseRequestTopic(topic, pid, dn string) (string, error) {
	prefix := "$rrpc/rxd/" + pid + "/" + dn + "/"
	if !strings.HasPrefix(topic, prefix) {
		return "", fmt.Errorf("%w: %q is not under %s", ErrMalformedTopic, topic, prefix)
	}
	id := topic[len(prefix):]
	switch {
	case id == "":
		return "", fmt.Errorf("%w: %q has no process id (last level empty)", ErrMalformedTopic, topic)
	case len(id) > MaxProcessIDLen:
		return "", fmt.Errorf("%w: process id of %d bytes, the limit is %d", ErrMalformedTopic, len(id), MaxProcessIDLen)
	case strings.Contains(id, "/"):
		return "", fmt.Errorf("%w: %q has levels after the process id", ErrMalformedTopic, topic)
	case strings.ContainsAny(id, "+#\x00"), !utf8.ValidString(id):
		return "", fmt.Errorf("%w: process id %q contains a wildcard, NUL or invalid UTF-8", ErrMalformedTopic, id)
	}
	return id, nil
}
