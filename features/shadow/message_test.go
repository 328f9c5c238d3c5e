package shadow

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var discard = slog.New(slog.DiscardHandler)

func TestParseResult(t *testing.T) {
	get := `{"clientToken":"S3EUVBRJLB-0","payload":{"state":{"reported":{"updateCount":5},"desired":{"a":1},"delta":{"a":1}},"timestamp":1568696289949,"version":5},"result":0,"timestamp":1568696341,"type":"get"}`
	in, err := parseResult([]byte(get))
	require.NoError(t, err)
	assert.Equal(t, "get", in.Type)
	assert.Equal(t, "S3EUVBRJLB-0", in.ClientToken)
	assert.Equal(t, int64(5), in.Version)
	assert.Equal(t, int64(1568696289949), in.Timestamp)
	assert.Equal(t, json.RawMessage("5"), in.Reported["updateCount"])
	assert.Equal(t, json.RawMessage("1"), in.Delta["a"])

	in, err = parseResult([]byte(`{"type":"delta","timestamp":1,"payload":{"state":{"temp":25},"version":7}}`))
	require.NoError(t, err)
	assert.Equal(t, map[string]json.RawMessage{"temp": json.RawMessage("25")}, in.Delta)
	assert.Equal(t, int64(7), in.Version)

	in, err = parseResult([]byte(`{"type":"update","result":0,"clientToken":"P-1","payload":{"state":{"reported":{"x":1},"desired":null},"version":3}}`))
	require.NoError(t, err)
	assert.True(t, in.DesiredNull)
	assert.True(t, in.HasDesired)

	in, err = parseResult([]byte(`{"type":"update","result":5005,"clientToken":"P-2","timestamp":1}`))
	require.NoError(t, err)
	assert.Equal(t, 5005, in.Result)
}

func TestParseResultRejects(t *testing.T) {
	tests := []struct {
		name, in string
		want     error
		reason   string
	}{
		{"not json", `{"type":`, ErrMalformed, "not a JSON object"},
		{"array", `[1,2]`, ErrMalformed, "not a JSON object"},
		{"null", `null`, ErrMalformed, "not a JSON object"},
		{"no type", `{"result":0}`, ErrMalformed, "no \"type\""},
		{"type not a string", `{"type":1}`, ErrMalformed, "type is not a string"},
		{"unknown type", `{"type":"explode","clientToken":"P-0"}`, ErrUnknownType, `"explode"`},
		{"result not a number", `{"type":"get","result":"x","clientToken":"P-0"}`, ErrMalformed, "result is not an integer"},
		{"token not a string", `{"type":"get","clientToken":5}`, ErrMalformed, "clientToken is not a string"},
		{"no token", `{"type":"update","result":0}`, ErrMalformed, "without a clientToken"},
		{"payload not an object", `{"type":"get","clientToken":"P-0","payload":[]}`, ErrMalformed, "payload is not an object"},
		{"bad version", `{"type":"delta","payload":{"state":{},"version":"7"}}`, ErrMalformed, "payload.version"},
		{"negative version", `{"type":"delta","payload":{"state":{},"version":-1}}`, ErrMalformed, "payload.version"},
		{"delta without version", `{"type":"delta","payload":{"state":{"a":1}}}`, ErrMalformed, "without payload.version"},
		{"state not an object", `{"type":"delta","payload":{"state":"on","version":1}}`, ErrMalformed, "payload.state"},
		{"reported not an object", `{"type":"get","clientToken":"P-0","payload":{"state":{"reported":[]},"version":1}}`, ErrMalformed, "state.reported"},
		{"get without version", `{"type":"get","clientToken":"P-0","result":0,"payload":{"state":{}}}`, ErrMalformed, "without payload.version"},
		{"too large", `{"type":"delta","payload":{"state":{"a":"` + strings.Repeat("x", MaxDocumentBytes) + `"},"version":1}}`, ErrTooLarge, "the limit is"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseResult([]byte(tt.in))
			require.Error(t, err)
			assert.ErrorIs(t, err, tt.want)
			assert.Contains(t, err.Error(), tt.reason)
		})
	}
}

func FuzzParseResult(f *testing.F) {
	f.Add([]byte(`{"clientToken":"S3EUVBRJLB-0","payload":{"state":{"reported":{"updateCount":5}},"timestamp":1568696289949,"version":5},"result":0,"timestamp":1568696341,"type":"get"}`))
	f.Add([]byte(`{"type":"delta","payload":{"state":{"temp":25},"version":7}}`))
	f.Add([]byte(`{"type":"update","result":5005,"clientToken":"P-2"}`))
	f.Add([]byte(`{"type":"update","result":0,"clientToken":"P-1","payload":{"state":{"desired":null},"version":3}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := parseResult(b)
		if err != nil {
			return
		}
		switch in.Type {
		case "delta":
			if !in.HasVersion {
				t.Fatal("accepted a delta without a version")
			}
		case "get", "update", "delete":
			if in.ClientToken == "" {
				t.Fatal("accepted a result without a clientToken")
			}
		default:
			t.Fatalf("accepted type %q", in.Type)
		}
		if in.Version < 0 {
			t.Fatal("negative version")
		}
		// What the shadow does with an accepted message must not panic.
		s := &Shadow{pending: map[string]*pending{}, watchers: map[chan Delta]struct{}{}, wake: make(chan struct{}, 1)}
		s.log = discard
		s.pushDelta(in)
		s.applyGetLocked(in)
		s.applyUpdateLocked(in)
	})
}

func TestDeltaAndMerge(t *testing.T) {
	r := func(s string) map[string]json.RawMessage {
		var m map[string]json.RawMessage
		require.NoError(t, json.Unmarshal([]byte(s), &m))
		return m
	}
	tests := []struct {
		name, reported, desired, want string
	}{
		{"none", `{"a":1}`, `{}`, `null`},
		{"same value, other spelling", `{"o":{"x":1,"y":2}}`, `{"o":{"y":2, "x":1}}`, `null`},
		{"differs", `{"a":1,"b":2}`, `{"a":1,"b":3,"c":"x"}`, `{"b":3,"c":"x"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, r(tt.want), delta(r(tt.reported), r(tt.desired)))
		})
	}
	assert.Equal(t, r(`{"a":1,"c":3}`), merge(r(`{"a":1,"b":2}`), r(`{"b":null,"c":3}`)))
	assert.Nil(t, merge(r(`{"a":1}`), r(`{"a":null}`)))
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero", Config{}, true},
		{"set", Config{Timeout: 2_000_000_000, MaxPending: 3}, true},
		{"negative timeout", Config{Timeout: -1}, false},
		{"tiny timeout", Config{Timeout: 1000}, false},
		{"negative max pending", Config{MaxPending: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.ok {
				assert.NoError(t, err)
			} else {
				assert.Error(t, err)
			}
		})
	}
}
