package timesync

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// reply is the `$sys/operation/result` message. The C SDK's JSON reader
// returns every value as a string, so the hub's numbers may arrive quoted;
// accept both.
type reply struct {
	Type     string
	Time     int64 // seconds
	NTPTime1 int64 // ms, server receive
	NTPTime2 int64 // ms, server send
}

// parseReply decodes a time reply. It returns an error that says what is
// wrong for anything that is not a usable reply.
func parseReply(b []byte) (reply, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return reply{}, fmt.Errorf("timesync: reply is not a JSON object: %w", err)
	}
	var r reply
	if t, ok := raw["type"]; ok {
		if err := json.Unmarshal(t, &r.Type); err != nil {
			return reply{}, errors.New("timesync: reply: type is not a string")
		}
	}
	if r.Type != "get" {
		return reply{}, fmt.Errorf("timesync: reply: type %q, want \"get\"", r.Type)
	}
	var err error
	if r.Time, err = number(raw, "time"); err != nil {
		return reply{}, err
	}
	if r.Time <= 0 {
		return reply{}, errors.New("timesync: reply: time missing or not positive")
	}
	if r.NTPTime1, err = number(raw, "ntptime1"); err != nil {
		return reply{}, err
	}
	if r.NTPTime2, err = number(raw, "ntptime2"); err != nil {
		return reply{}, err
	}
	if (r.NTPTime1 == 0) != (r.NTPTime2 == 0) || r.NTPTime2 < r.NTPTime1 {
		// Half an NTP pair, or a send before the receive: fall back to time.
		r.NTPTime1, r.NTPTime2 = 0, 0
	}
	return r, nil
}

func number(raw map[string]json.RawMessage, key string) (int64, error) {
	v, ok := raw[key]
	if !ok || string(v) == "null" {
		return 0, nil
	}
	var n json.Number
	if err := json.Unmarshal(v, &n); err != nil {
		var s string
		if json.Unmarshal(v, &s) != nil {
			return 0, fmt.Errorf("timesync: reply: %s is neither a number nor a numeric string", key)
		}
		n = json.Number(s)
	}
	i, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("timesync: reply: %s: %q is not an integer", key, string(n))
	}
	if i < 0 {
		return 0, fmt.Errorf("timesync: reply: %s is negative", key)
	}
	return i, nil
}

// estimate returns the offset (server minus local) from a reply, given the
// local send time t0 and receive time t3.
func estimate(r reply, t0, t3 time.Time) (offset, rtt time.Duration) {
	rtt = t3.Sub(t0)
	if r.NTPTime1 > 0 {
		t1 := time.UnixMilli(r.NTPTime1)
		t2 := time.UnixMilli(r.NTPTime2)
		// NTP: ((t1 - t0) + (t2 - t3)) / 2; the round trip excludes the
		// server's processing time.
		offset = (t1.Sub(t0) + t2.Sub(t3)) / 2
		rtt -= t2.Sub(t1)
		if rtt < 0 {
			rtt = 0
		}
		return offset, rtt
	}
	server := time.Unix(r.Time, 0).Add(rtt / 2)
	return server.Sub(t3), rtt
}
