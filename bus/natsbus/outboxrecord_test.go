package natsbus

import (
	"strconv"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/bus/outbox"
)

func TestRecordHeadersRoundTrip(t *testing.T) {
	r := outbox.Record{
		Meta:   outbox.Meta{Seq: 42, Topic: "$thing/up/property/P/D", QoS: 1, Size: 7, Accepted: time.Unix(0, 1700000000123456789), Attempts: 3},
		Reason: "closed the connection 3 times: 100% \r\n sure",
		Parked: time.Unix(0, 1700000001000000000),
	}
	h := recordHeaders(r, true)
	h.Set(hdrSize, "7")
	got, err := parseRecord(h, true)
	require.NoError(t, err)
	assert.Equal(t, r.Topic, got.Topic)
	assert.Equal(t, r.Reason, got.Reason)
	assert.Equal(t, r.Seq, got.Seq)
	assert.Equal(t, r.Attempts, got.Attempts)
	assert.Equal(t, 7, got.Size)
	assert.True(t, r.Accepted.Equal(got.Accepted))
	assert.True(t, r.Parked.Equal(got.Parked))

	for name, h := range map[string]nats.Header{
		"no topic":  {hdrQoS: {"1"}, hdrAccepted: {"1"}},
		"bad qos":   {hdrTopic: {"a"}, hdrQoS: {"3"}, hdrAccepted: {"1"}},
		"bad time":  {hdrTopic: {"a"}, hdrQoS: {"1"}, hdrAccepted: {"-1"}},
		"bad topic": {hdrTopic: {"a%zz"}, hdrQoS: {"1"}, hdrAccepted: {"1"}},
	} {
		_, err := parseRecord(h, false)
		assert.Error(t, err, name)
	}
}

// FuzzOutboxRecord: headers read back from the stream (anyone who can
// write to it may have written them) never panic the parser, and what
// recordHeaders wrote reads back as it was.
func FuzzOutboxRecord(f *testing.F) {
	f.Add("$thing/up/property/P/D", "poison", "1", "1700000000", "12", "3", "5", "9")
	f.Add("a%zz", "\r\n", "x", "-1", "", "99999999999999999999", "", "")
	f.Fuzz(func(t *testing.T, topic, reason, qos, accepted, seq, attempts, size, retried string) {
		h := nats.Header{}
		for k, v := range map[string]string{hdrTopic: topic, hdrReason: reason, hdrQoS: qos, hdrAccepted: accepted,
			hdrSeq: seq, hdrAttempts: attempts, hdrSize: size, hdrParked: accepted, hdrRetried: retried} {
			h.Set(k, v)
		}
		for _, dead := range []bool{false, true} {
			if r, err := parseRecord(h, dead); err == nil {
				assert.NotEmpty(t, r.Topic)
				assert.LessOrEqual(t, r.QoS, byte(2))
			}
		}
		_, _, _ = parseAttempts(h)
		_ = parseRetried(h)

		if topic == "" || len(topic) > outbox.MaxTopic || !utf8.ValidString(reason) {
			return
		}
		r := outbox.Record{Meta: outbox.Meta{Seq: 1, Topic: topic, QoS: 1, Accepted: time.Unix(0, 5)}, Reason: outbox.Cut(reason, outbox.MaxReason), Parked: time.Unix(0, 6)}
		h = recordHeaders(r, true)
		h.Set(hdrSize, strconv.Itoa(0))
		got, err := parseRecord(h, true)
		require.NoError(t, err)
		assert.Equal(t, r.Topic, got.Topic)
		assert.Equal(t, r.Reason, got.Reason)
	})
}
