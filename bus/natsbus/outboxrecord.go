package natsbus

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/iotd/iotd/bus/outbox"
)

// Headers of the outbox stream's messages (see Outbox). A message's payload
// is the data; everything else of its outbox.Record is in these headers.
const (
	hdrTopic    = "Iotd-Topic"    // the MQTT topic, escaped (escapeHeader)
	hdrQoS      = "Iotd-Qos"      // 0, 1 or 2
	hdrAccepted = "Iotd-Accepted" // when AppendBatch stored it, Unix nanoseconds
	hdrSeq      = "Iotd-Seq"      // dead letter, attempts: the pending message's Seq
	hdrAttempts = "Iotd-Attempts" // dead letter, attempts: sessions ended while it was sent
	hdrReason   = "Iotd-Reason"   // dead letter: why it was parked, escaped
	hdrParked   = "Iotd-Parked"   // dead letter: when, Unix nanoseconds
	hdrRetried  = "Iotd-Retried"  // pending: the dead letter's Seq it was retried from
	// hdrSize is the server's: the payload's size, in a headers-only read.
	hdrSize = "Nats-Msg-Size"
)

// escapeHeader makes s a header value: '%', control bytes and a space at
// either end (a header's value loses those) as %XX; everything else, the
// usual topic or reason, as it is.
func escapeHeader(s string) string {
	esc := func(i int) bool {
		c := s[i]
		return c == '%' || c < 0x20 || c == 0x7f || c == ' ' && (i == 0 || i == len(s)-1)
	}
	i := 0
	for i < len(s) && !esc(i) {
		i++
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.WriteString(s[:i])
	for ; i < len(s); i++ {
		if esc(i) {
			fmt.Fprintf(&b, "%%%02X", s[i])
		} else {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// recordHeaders are the headers of r on the stream: those of a pending
// message, plus, when dead, those of a dead letter.
func recordHeaders(r outbox.Record, dead bool) nats.Header {
	h := nats.Header{}
	h.Set(hdrTopic, escapeHeader(r.Topic))
	h.Set(hdrQoS, strconv.Itoa(int(r.QoS)))
	h.Set(hdrAccepted, strconv.FormatInt(r.Accepted.UnixNano(), 10))
	if dead {
		h.Set(hdrSeq, strconv.FormatUint(r.Seq, 10))
		h.Set(hdrAttempts, strconv.Itoa(r.Attempts))
		h.Set(hdrReason, escapeHeader(r.Reason))
		h.Set(hdrParked, strconv.FormatInt(r.Parked.UnixNano(), 10))
	}
	return h
}

// parseRecord reads a record back from a stream message's headers (outside
// input: anyone with access to the stream may have written them). Size is
// the payload's size (hdrSize) when the payload is not at hand. For a dead letter it reads the dead letter's headers too; Seq is then the
// pending message's, else zero (the caller knows the stream sequence).
func parseRecord(h nats.Header, dead bool) (outbox.Record, error) {
	var r outbox.Record
	var errs []error
	field := func(key string) string {
		v := h.Get(key)
		if v == "" {
			errs = append(errs, fmt.Errorf("no %s header", key))
		}
		return v
	}
	unescape := func(key string, max int) string {
		v, err := url.PathUnescape(h.Get(key))
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
		case len(v) > max:
			errs = append(errs, fmt.Errorf("%s: %d bytes, the limit is %d", key, len(v), max))
		}
		return v
	}
	num := func(key string, bits int) uint64 {
		v := field(key)
		if v == "" {
			return 0
		}
		n, err := strconv.ParseUint(v, 10, bits)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
		}
		return n
	}
	when := func(key string) time.Time {
		n := num(key, 63)
		return time.Unix(0, int64(n))
	}
	r.Topic = unescape(hdrTopic, outbox.MaxTopic)
	if r.Topic == "" {
		errs = append(errs, errors.New("no topic"))
	}
	qos := num(hdrQoS, 8)
	if qos > 2 {
		errs = append(errs, fmt.Errorf("%s: %d, want 0, 1 or 2", hdrQoS, qos))
	}
	r.QoS = byte(qos)
	r.Accepted = when(hdrAccepted)
	if v := h.Get(hdrSize); v != "" {
		n, err := strconv.ParseUint(v, 10, 31)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", hdrSize, err))
		}
		r.Size = int(n)
	}
	if dead {
		r.Seq = num(hdrSeq, 64)
		if r.Seq == 0 {
			errs = append(errs, fmt.Errorf("%s: 0", hdrSeq))
		}
		r.Attempts = int(num(hdrAttempts, 31))
		r.Parked = when(hdrParked)
		r.Reason = unescape(hdrReason, outbox.MaxReason)
	}
	return r, errors.Join(errs...)
}

// parseAttempts reads an attempts marker: the pending message's Seq and its
// count.
func parseAttempts(h nats.Header) (seq uint64, n int, err error) {
	seq, err = strconv.ParseUint(h.Get(hdrSeq), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", hdrSeq, err)
	}
	a, err := strconv.ParseUint(h.Get(hdrAttempts), 10, 31)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", hdrAttempts, err)
	}
	return seq, int(a), nil
}

// parseRetried reads the Seq of the dead letter a pending message was
// retried from; 0 when it was not.
func parseRetried(h nats.Header) uint64 {
	n, _ := strconv.ParseUint(h.Get(hdrRetried), 10, 64)
	return n
}
