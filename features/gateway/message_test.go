package gateway

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core"
)

func TestSignatureVectors(t *testing.T) {
	// Computed independently (Python hmac/hashlib): the key is the secret
	// text as is, the digest is base64 of the raw 20 bytes.
	assert.Equal(t, "qFtzJR7t7QBTdAH96x/WI1ASLn0=",
		Signature("c2VjcmV0LXRleHQ=", Ref{ProductID: "PSUB000001", DeviceName: "dev1"}, 12345, 1700000000))
	assert.Equal(t, "233222b2a4a314b7fb56933ec29e91ec",
		CertKey([]byte("-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n")))
}

func TestParseResult(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr error
		typ     string
		devices []deviceResult
		bad     int
	}{
		{name: "online ok", in: `{"type":"online","payload":{"devices":[{"product_id":"P1","device_name":"d1","result":0}]}}`,
			typ: OpOnline, devices: []deviceResult{{Ref{"P1", "d1"}, 0}}},
		{name: "two results, one refused", in: `{"type":"bind","payload":{"devices":[{"product_id":"P1","device_name":"a","result":0},{"product_id":"P1","device_name":"b","result":1001}]}}`,
			typ: OpBind, devices: []deviceResult{{Ref{"P1", "a"}, 0}, {Ref{"P1", "b"}, 1001}}},
		{name: "quoted result", in: `{"type":"offline","payload":{"devices":[{"product_id":"P1","device_name":"d1","result":"-1"}]}}`,
			typ: OpOffline, devices: []deviceResult{{Ref{"P1", "d1"}, -1}}},
		{name: "describe", in: `{"type":"describe_sub_devices","payload":{"devices":[{"product_id":"P1","device_name":"d1"}]}}`,
			typ: OpDescribe, devices: []deviceResult{{Ref{"P1", "d1"}, 0}}},
		{name: "describe, none bound", in: `{"type":"describe_sub_devices"}`, typ: OpDescribe},
		{name: "entry without result skipped", in: `{"type":"unbind","payload":{"devices":[{"product_id":"P1","device_name":"d1"},{"product_id":"P1","device_name":"d2","result":0}]}}`,
			typ: OpUnbind, devices: []deviceResult{{Ref{"P1", "d2"}, 0}}, bad: 1},
		{name: "entry without name skipped", in: `{"type":"online","payload":{"devices":[{"product_id":"P1","result":0}]}}`,
			typ: OpOnline, bad: 1},
		{name: "not json", in: `{"type":`, wantErr: ErrMalformed},
		{name: "no type", in: `{"payload":{}}`, wantErr: ErrMalformed},
		{name: "unknown type", in: `{"type":"reboot"}`, wantErr: ErrUnknownType},
		{name: "no devices", in: `{"type":"online","result":0}`, wantErr: ErrMalformed},
		{name: "result not a number", in: `{"type":"online","payload":{"devices":[{"product_id":"P1","device_name":"d1","result":"x"}]}}`, wantErr: ErrMalformed},
		{name: "devices not an array", in: `{"type":"online","payload":{"devices":{}}}`, wantErr: ErrMalformed},
		{name: "too large", in: `{"type":"online","x":"` + strings.Repeat("a", MaxResultBytes) + `"}`, wantErr: ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := parseResult([]byte(tt.in))
			if tt.wantErr != nil {
				require.Error(t, err)
				assert.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.typ, in.Type)
			assert.Equal(t, tt.devices, in.Devices)
			assert.Len(t, in.Bad, tt.bad)
		})
	}
}

func FuzzParseResult(f *testing.F) {
	for _, s := range []string{
		`{"type":"online","payload":{"devices":[{"product_id":"P1","device_name":"d1","result":0}]}}`,
		`{"type":"describe_sub_devices","payload":{"devices":[{"product_id":"P1","device_name":"d1"}]}}`,
		`{"type":"bind","payload":{"devices":[{"product_id":"P1","device_name":"d1","result":"1001"}]}}`,
		`{"type":null}`, `[]`, `{"type":"online","payload":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := parseResult(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownType) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		for _, d := range in.Devices {
			if d.Validate() != nil {
				t.Fatalf("accepted an invalid sub-device %q", d.Ref)
			}
		}
	})
}

func TestConfigValidate(t *testing.T) {
	sub := func(pid, dn string) SubDeviceConfig { return SubDeviceConfig{ProductID: pid, DeviceName: dn} }
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"zero value", Config{}, ""},
		{"several", Config{SubDevices: []SubDeviceConfig{sub("P1", "a"), sub("P1", "b"), sub("P2", "a")}}, ""},
		{"duplicate", Config{SubDevices: []SubDeviceConfig{sub("P1", "a"), sub("P1", "b"), sub("P1", "a")}},
			"gateway: sub_devices[2]: P1/a is also sub_devices[0]; list each sub-device once"},
		{"empty name", Config{SubDevices: []SubDeviceConfig{sub("P1", "")}}, "sub_devices[0]: gateway: sub-device P1/: device_name is empty"},
		{"topic character", Config{SubDevices: []SubDeviceConfig{sub("P1", "a/b")}}, "contains a character a topic cannot carry"},
		{"long product", Config{SubDevices: []SubDeviceConfig{sub("P123456789AB", "a")}}, "product_id is 12 characters"},
		{"both credentials", Config{SubDevices: []SubDeviceConfig{{ProductID: "P1", DeviceName: "a", DeviceSecret: "s", CertFile: "c"}}}, "not both"},
		{"tiny timeout", Config{Timeout: 1}, "timeout: must be at least 10ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestWithDeviceInfoKeepsConfiguredEntries(t *testing.T) {
	cfg := Config{SubDevices: []SubDeviceConfig{{ProductID: "P1", DeviceName: "a", DeviceSecret: "s"}}}
	got := cfg.WithDeviceInfo([]core.SubDevice{
		{SubProductID: "P1", SubDevName: "a"}, {SubProductID: "P2", SubDevName: "b"}, {SubProductID: "P2", SubDevName: "b"}})
	assert.Equal(t, []SubDeviceConfig{{ProductID: "P1", DeviceName: "a", DeviceSecret: "s"}, {ProductID: "P2", DeviceName: "b"}}, got.SubDevices)
	assert.Len(t, cfg.SubDevices, 1, "the original is not changed")
	assert.NoError(t, got.Validate())
}
