package localapi

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The wire types keep the JSON of the daemon before they existed: a status
// captured from that daemon (a gateway with a sub-device's OTA and log
// upload on) decodes into Status and encodes back byte for byte.
func TestStatusCapturedFromTheDaemonRoundTrips(t *testing.T) {
	captured, err := os.ReadFile("testdata/status_captured.json")
	require.NoError(t, err)
	var st Status
	dec := json.NewDecoder(bytes.NewReader(captured))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&st))
	assert.Equal(t, LinkConnected, st.Link.State)
	assert.Equal(t, "0.9.0", st.Features.SubDeviceOTA["PSUB000002/lamp"].Version)
	require.NotNil(t, st.Features.LogUpload)
	var out bytes.Buffer
	require.NoError(t, json.NewEncoder(&out).Encode(st))
	assert.Equal(t, string(captured), out.String())
}

// Every wire type, with every field set, as the daemon's own types encoded
// it before the move (testdata/wire_full.json was written from them):
// decoding and encoding again changes nothing, and no field is unknown.
func TestEveryWireTypeKeepsItsJSON(t *testing.T) {
	raw, err := os.ReadFile("testdata/wire_full.json")
	require.NoError(t, err)
	var docs map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &docs))
	types := map[string]func() any{
		"status":             func() any { return new(Status) },
		"ota":                func() any { return new(OTAStatus) },
		"outbox":             func() any { return new(OutboxList) },
		"shadow_document":    func() any { return new(ShadowDocument) },
		"shadow_delta":       func() any { return new(ShadowDelta) },
		"shadow_report":      func() any { return new(ShadowReport) },
		"gateway_subdevices": func() any { return new([]SubDevice) },
		"gateway_results":    func() any { return new(GatewayResults) },
		"gateway_refs":       func() any { return new([]DeviceRef) },
		"gateway_request":    func() any { return new(GatewayRequest) },
		"subdevice_config":   func() any { return new(SubDeviceConfig) },
		"drivers":            func() any { return new([]ProbeResult) },
		"at_send_request":    func() any { return new(ATSendRequest) },
		"at_send_result":     func() any { return new(ATSendResult) },
		"at_trace_event":     func() any { return new(ATTraceEvent) },
		"at_modems":          func() any { return new([]ModemStatus) },
		"message":            func() any { return new(Message) },
		"rrpc_request":       func() any { return new(RRPCRequest) },
		"rrpc_reply":         func() any { return new(RRPCReply) },
		"broadcast":          func() any { return new(BroadcastMessage) },
		"unsubscribe_result": func() any { return new(UnsubscribeResult) },
		"publish_request":    func() any { return new(PublishRequest) },
		"publish_response":   func() any { return new(PublishResponse) },
		"log_line":           func() any { return new(LogLine) },
	}
	assert.Len(t, docs, len(types), "a document in testdata/wire_full.json has no type here, or the reverse")
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			mk, ok := types[name]
			require.True(t, ok, "no wire type for %s", name)
			v := mk()
			dec := json.NewDecoder(bytes.NewReader(doc))
			dec.DisallowUnknownFields()
			require.NoError(t, dec.Decode(v))
			got, err := json.Marshal(v)
			require.NoError(t, err)
			var want bytes.Buffer
			require.NoError(t, json.Compact(&want, doc))
			assert.Equal(t, want.String(), string(got))
		})
	}
}
