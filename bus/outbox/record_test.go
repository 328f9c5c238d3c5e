package outbox

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sampleRecords() []Record {
	return []Record{
		{Meta: Meta{Seq: 1, Topic: "t", QoS: 1}},
		{
			Meta:    Meta{Seq: 42, Topic: "prod/dev1/event", QoS: 1, Size: 11, Accepted: time.Unix(0, 1700000000123456789), Attempts: 3},
			Payload: []byte("hello world"),
		},
		{
			Meta:    Meta{Seq: 1<<64 - 1, Topic: strings.Repeat("x", 300), QoS: 2, Size: 3, Accepted: time.Unix(0, -5)},
			Payload: []byte{0, 1, 2},
			Reason:  "session closed 3 times while sending",
			Parked:  time.Unix(0, 1800000000000000000),
		},
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for _, r := range sampleRecords() {
		b, err := encodeRecord(r)
		require.NoError(t, err)
		got, err := decodeRecord(b)
		require.NoError(t, err)
		if r.Payload == nil {
			r.Payload = []byte{}
		}
		assert.Equal(t, r, got)
	}
}

func TestDecodeRecordRejects(t *testing.T) {
	valid, err := encodeRecord(sampleRecords()[1])
	require.NoError(t, err)
	flip := func(i int) []byte {
		b := bytes.Clone(valid)
		b[i] ^= 0x10
		return b
	}
	wrongVersion := bytes.Clone(valid)
	wrongVersion[0] = 2
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "shorter than"},
		{"truncated header", valid[:20], "shorter than"},
		{"truncated payload", valid[:len(valid)-5], "its header says"},
		{"trailing bytes", append(bytes.Clone(valid), 0), "its header says"},
		{"wrong version", wrongVersion, "record version 2"},
		{"payload bit", flip(len(valid) - 6), "checksum mismatch"},
		{"seq bit", flip(3), "checksum mismatch"},
		{"checksum bit", flip(len(valid) - 1), "checksum mismatch"},
		{"length bit", flip(37), "its header says"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeRecord(tt.in)
			require.ErrorIs(t, err, ErrCorrupt)
			assert.ErrorContains(t, err, tt.want)
		})
	}
}

func TestEncodeRecordRefuses(t *testing.T) {
	for _, r := range []Record{
		{Meta: Meta{Topic: strings.Repeat("x", maxTopic+1)}},
		{Reason: strings.Repeat("x", maxReason+1)},
		{Meta: Meta{QoS: 3}},
		{Meta: Meta{Attempts: -1}},
	} {
		_, err := encodeRecord(r)
		assert.Error(t, err)
	}
}

func TestCut(t *testing.T) {
	assert.Equal(t, "abc", cut("abc", 5))
	assert.Equal(t, "ab", cut("abc", 2))
	assert.Equal(t, "a", cut("aé", 2), "never splits a UTF-8 sequence")
}

// FuzzDecodeRecord: decodeRecord never panics, accepts only what it can
// account for, and whatever it accepts re-encodes to the same bytes and
// decodes to the same record.
func FuzzDecodeRecord(f *testing.F) {
	for _, r := range sampleRecords() {
		b, err := encodeRecord(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
		f.Add(b[:headerLen])
		for _, i := range []int{0, 1, 9, 30, 34, len(b) / 2, len(b) - 1} {
			c := bytes.Clone(b)
			c[i] ^= 1
			f.Add(c)
		}
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			if !strings.HasPrefix(err.Error(), ErrCorrupt.Error()) {
				t.Fatalf("error %q does not wrap ErrCorrupt", err)
			}
			return
		}
		if r.Size != len(r.Payload) {
			t.Fatalf("size %d, payload %d bytes", r.Size, len(r.Payload))
		}
		enc, err := encodeRecord(r)
		if err != nil {
			t.Fatalf("decoded record does not encode: %v", err)
		}
		if !bytes.Equal(enc, b) {
			t.Fatalf("re-encoding differs:\n in  %x\n out %x", b, enc)
		}
		again, err := decodeRecord(enc)
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if !recordsEqual(r, again) {
			t.Fatalf("round trip changed the record:\n %+v\n %+v", r, again)
		}
	})
}

func recordsEqual(a, b Record) bool {
	return a.Seq == b.Seq && a.Topic == b.Topic && a.QoS == b.QoS && a.Size == b.Size &&
		a.Accepted.Equal(b.Accepted) && a.Attempts == b.Attempts && bytes.Equal(a.Payload, b.Payload) &&
		a.Reason == b.Reason && a.Parked.Equal(b.Parked)
}
