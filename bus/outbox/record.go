package outbox

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"time"
)

// Record encoding, version 1. All integers are big-endian; every field has a
// fixed place or an explicit length, so each Record has exactly one encoding.
//
//	off len
//	  0   1  version (1)
//	  1   8  seq (must equal the record's key)
//	  9   1  qos (0..2)
//	 10   8  accepted, Unix nanoseconds (0: zero time)
//	 18   8  parked, Unix nanoseconds (0: not parked)
//	 26   4  attempts
//	 30   2  topic length T
//	 32   2  reason length R
//	 34   4  payload length P
//	 38   T  topic
//	      R  reason
//	      P  payload
//	      4  CRC-32C (Castagnoli) of all the bytes before it
//
// The payload comes last so that the header of a large record can be read
// from its first page without touching the rest.
const (
	recordVersion = 1
	headerLen     = 38
	crcLen        = 4

	// maxTopic is what the 16-bit length field holds (MQTT's own limit).
	maxTopic = 1<<16 - 1
	// maxReason bounds a dead letter's reason; Park cuts longer ones.
	maxReason = 1024
	// maxPayload is MQTT's largest packet (268,435,455 bytes); no message
	// can be larger, so a record claiming more is corrupt.
	maxPayload = 268435455
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encodeRecord returns the stored form of r. It fails only for a record that
// decodeRecord would refuse (fields out of range).
func encodeRecord(r Record) ([]byte, error) {
	switch {
	case len(r.Topic) > maxTopic:
		return nil, fmt.Errorf("outbox: topic of %d bytes, the limit is %d", len(r.Topic), maxTopic)
	case len(r.Reason) > maxReason:
		return nil, fmt.Errorf("outbox: reason of %d bytes, the limit is %d", len(r.Reason), maxReason)
	case len(r.Payload) > maxPayload:
		return nil, fmt.Errorf("outbox: payload of %d bytes, the limit is %d", len(r.Payload), maxPayload)
	case r.QoS > 2:
		return nil, fmt.Errorf("outbox: qos %d, want 0, 1 or 2", r.QoS)
	case r.Attempts < 0 || int64(r.Attempts) > 1<<32-1:
		return nil, fmt.Errorf("outbox: attempts %d out of range", r.Attempts)
	}
	n := headerLen + len(r.Topic) + len(r.Reason) + len(r.Payload) + crcLen
	b := make([]byte, headerLen, n)
	b[0] = recordVersion
	binary.BigEndian.PutUint64(b[1:], r.Seq)
	b[9] = r.QoS
	binary.BigEndian.PutUint64(b[10:], uint64(unixNano(r.Accepted)))
	binary.BigEndian.PutUint64(b[18:], uint64(unixNano(r.Parked)))
	binary.BigEndian.PutUint32(b[26:], uint32(r.Attempts))
	binary.BigEndian.PutUint16(b[30:], uint16(len(r.Topic)))
	binary.BigEndian.PutUint16(b[32:], uint16(len(r.Reason)))
	binary.BigEndian.PutUint32(b[34:], uint32(len(r.Payload)))
	b = append(b, r.Topic...)
	b = append(b, r.Reason...)
	b = append(b, r.Payload...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli)), nil
}

// decodeRecord parses and checks a stored record. The returned Payload
// aliases b (copy it before b goes away, as bbolt's memory does when its
// transaction ends); Topic and Reason are copies. Any input that is not
// exactly one valid record gives an error wrapping ErrCorrupt.
func decodeRecord(b []byte) (Record, error) {
	r, err := decodeHeader(b)
	if err != nil {
		return Record{}, err
	}
	body := len(b) - crcLen
	if stored, sum := binary.BigEndian.Uint32(b[body:]), crc32.Checksum(b[:body], castagnoli); stored != sum {
		return Record{}, fmt.Errorf("%w: checksum mismatch (stored %08x, computed %08x)", ErrCorrupt, stored, sum)
	}
	r.Payload = b[body-r.Size : body : body]
	return r, nil
}

// decodeHeader parses everything but the payload and does not verify the
// checksum: it is for accounting (sizes of records about to be deleted) and
// for salvaging what a corrupt record still tells. Its lengths are checked
// against len(b), so a Record it returns describes b's layout.
func decodeHeader(b []byte) (Record, error) {
	if len(b) < headerLen+crcLen {
		return Record{}, fmt.Errorf("%w: record of %d bytes, shorter than the %d-byte minimum", ErrCorrupt, len(b), headerLen+crcLen)
	}
	if b[0] != recordVersion {
		return Record{}, fmt.Errorf("%w: record version %d, this iotd reads %d", ErrCorrupt, b[0], recordVersion)
	}
	var r Record
	r.Seq = binary.BigEndian.Uint64(b[1:])
	r.QoS = b[9]
	if r.QoS > 2 {
		return Record{}, fmt.Errorf("%w: qos %d", ErrCorrupt, r.QoS)
	}
	r.Accepted = fromUnixNano(int64(binary.BigEndian.Uint64(b[10:])))
	r.Parked = fromUnixNano(int64(binary.BigEndian.Uint64(b[18:])))
	attempts := binary.BigEndian.Uint32(b[26:])
	if uint64(attempts) > uint64(maxInt) {
		return Record{}, fmt.Errorf("%w: attempts %d", ErrCorrupt, attempts)
	}
	r.Attempts = int(attempts)
	topicLen := int(binary.BigEndian.Uint16(b[30:]))
	reasonLen := int(binary.BigEndian.Uint16(b[32:]))
	payloadLen := uint64(binary.BigEndian.Uint32(b[34:]))
	if reasonLen > maxReason {
		return Record{}, fmt.Errorf("%w: reason of %d bytes, the limit is %d", ErrCorrupt, reasonLen, maxReason)
	}
	if payloadLen > maxPayload {
		return Record{}, fmt.Errorf("%w: payload of %d bytes, the limit is %d", ErrCorrupt, payloadLen, maxPayload)
	}
	if want := uint64(headerLen+topicLen+reasonLen+crcLen) + payloadLen; uint64(len(b)) != want {
		return Record{}, fmt.Errorf("%w: record of %d bytes, its header says %d", ErrCorrupt, len(b), want)
	}
	r.Size = int(payloadLen)
	off := headerLen
	r.Topic = string(b[off : off+topicLen])
	off += topicLen
	r.Reason = string(b[off : off+reasonLen])
	return r, nil
}

// maxInt is the largest int; on 32-bit platforms an attempts count above it
// cannot be represented.
const maxInt = int(^uint(0) >> 1)

// unixNano maps the zero time to 0, so that "not set" survives a round trip.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}
