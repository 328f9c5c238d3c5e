package hubsim

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mustBase64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	require.NoError(t, err)
	return b
}

func TestAllowed(t *testing.T) {
	dev := DeviceRef{ProductID: "P1", DeviceName: "d1"}
	tests := []struct {
		topic string
		want  bool
	}{
		{"P1/d1/data", true},
		{"P1/d1/#", true},
		{"P1/d1/", false},
		{"P1/d1", false},
		{"P1/d2/data", false},
		{"P1/+/data", false},
		{"$sys/operation/P1/d1", true},
		{"$sys/operation/result/P1/d1", true},
		{"$shadow/operation/result/P1/d1", true},
		{"$ota/update/P1/d1", true},
		{"$rrpc/rxd/P1/d1/+", true},
		{"$rrpc/txd/P1/d1/123", true},
		{"$gateway/operation/result/P1/d1", true},
		{"$sys/operation/P1/d2", false},
		{"$sys/+/P1/d1", false},
		{"$sys/a/b/c/P1/d1", false},
		{"$SYS/x/P1/d1", false},
		{"$sys/P1/d1", false},
		{"#", false},
		{"P1/d1/" + strings.Repeat("x", 123), false},
		{"P1/d1/" + strings.Repeat("x", 122), true},
	}
	for _, tt := range tests {
		t.Run(tt.topic, func(t *testing.T) {
			assert.Equal(t, tt.want, Allowed(dev, tt.topic))
		})
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		filter, topic string
		want          bool
	}{
		{"a/b", "a/b", true},
		{"a/+", "a/b", true},
		{"a/+", "a/b/c", false},
		{"a/#", "a", true},
		{"a/#", "a/b/c", true},
		{"$sys/operation/+/+", "$sys/operation/P/d", true},
		{"$sys/operation/+/+", "$sys/operation/result/P/d", false},
		{"a/b", "a", false},
	}
	for _, tt := range tests {
		t.Run(tt.filter+" "+tt.topic, func(t *testing.T) {
			assert.Equal(t, tt.want, Match(tt.filter, tt.topic))
		})
	}
}

func TestParseSysRequest(t *testing.T) {
	tests := []struct {
		name, in, err string
	}{
		{"C SDK request", `{"type": "get", "resource": ["time"]}`, ""},
		{"extra fields", `{"type":"get","resource":["time","x"],"clientToken":"a"}`, ""},
		{"not JSON", `{"type":`, "not a JSON object"},
		{"array", `[]`, "not a JSON object"},
		{"wrong type", `{"type":"set","resource":["time"]}`, `type "set"`},
		{"no resource", `{"type":"get"}`, "resource"},
		{"other resource", `{"type":"get","resource":["config"]}`, "resource"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSysRequest([]byte(tt.in))
			if tt.err == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, ErrSysRequest)
			assert.ErrorContains(t, err, tt.err)
		})
	}
}

func TestValidConnID(t *testing.T) {
	for _, s := range []string{"a", "Ab3xZ", "00000"} {
		assert.True(t, validConnID(s), s)
	}
	for _, s := range []string{"", "abcdef", "ab-c", "ab c"} {
		assert.False(t, validConnID(s), s)
	}
}

func FuzzParseSysRequest(f *testing.F) {
	f.Add([]byte(`{"type": "get", "resource": ["time"]}`))
	f.Add([]byte(`{"type":"get","resource":"time"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseSysRequest(data)
		if err == nil && r.Type != "get" {
			t.Fatalf("accepted type %q", r.Type)
		}
	})
}

func FuzzDecodeAdmin(f *testing.F) {
	f.Add([]byte(`{"productId":"P1","deviceName":"d","authMode":"CERT"}`))
	f.Add([]byte(`{"productId":"P1"}`))
	f.Add([]byte(`{"disabled":true}`))
	f.Add([]byte(`{"productId":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if r, err := DecodeCreateDevice(data); err == nil {
			if ValidateProductID(r.ProductID) != nil || ValidateDeviceName(r.DeviceName) != nil {
				t.Fatalf("accepted invalid device %+v", r)
			}
			if r.AuthMode != AuthKey && r.AuthMode != AuthCert {
				t.Fatalf("accepted auth mode %q", r.AuthMode)
			}
		}
		if r, err := DecodeCreateProduct(data); err == nil && ValidateProductID(r.ProductID) != nil {
			t.Fatalf("accepted invalid product %+v", r)
		}
		if r, err := DecodeUpdateDevice(data); err == nil && r.Disabled == nil {
			t.Fatal("accepted an update without disabled")
		}
	})
}

func FuzzAllowed(f *testing.F) {
	f.Add("P1", "d1", "$sys/operation/result/P1/d1")
	f.Add("P1", "d1", "P1/d1/data")
	f.Fuzz(func(t *testing.T, pid, dn, topic string) {
		dev := DeviceRef{ProductID: pid, DeviceName: dn}
		if Allowed(dev, topic) {
			if len(topic) > MaxTopicLen {
				t.Fatal("allowed an over-long topic")
			}
			if !strings.Contains(topic, pid+"/"+dn) {
				t.Fatalf("allowed %q for %s", topic, dev)
			}
		}
	})
}
