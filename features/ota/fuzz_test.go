package ota

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseUpdate(t *testing.T) {
	good := `{"file_size":175436,"md5sum":"AD46c1e2e5d0f6e2b1e5c3f5d2e1a5dc","type":"update_firmware","url":"https://ota.example.com:8443/f.bin?sign=x","version":"1.3.0"}`
	tests := []struct {
		name    string
		in      string
		ok      bool
		wantErr bool
	}{
		{"sdk example", good, true, false},
		{"quoted size", `{"file_size":"10","md5sum":"ad46c1e2e5d0f6e2b1e5c3f5d2e1a5dc","type":"update_firmware","url":"https://h/f","version":"1"}`, true, false},
		{"version rsp", `{"result_code":0,"result_msg":"success","type":"report_version_rsp","version":"1.0.0"}`, false, false},
		{"not json", `{`, false, true},
		{"short md5", `{"file_size":1,"md5sum":"ad46","type":"update_firmware","url":"https://h/f","version":"1"}`, false, true},
		{"zero size", `{"file_size":0,"md5sum":"ad46c1e2e5d0f6e2b1e5c3f5d2e1a5dc","type":"update_firmware","url":"https://h/f","version":"1"}`, false, true},
		{"ftp url", `{"file_size":1,"md5sum":"ad46c1e2e5d0f6e2b1e5c3f5d2e1a5dc","type":"update_firmware","url":"ftp://h/f","version":"1"}`, false, true},
		{"slash in version", `{"file_size":1,"md5sum":"ad46c1e2e5d0f6e2b1e5c3f5d2e1a5dc","type":"update_firmware","url":"https://h/f","version":"../x"}`, false, true},
		{"long version", `{"file_size":1,"md5sum":"ad46c1e2e5d0f6e2b1e5c3f5d2e1a5dc","type":"update_firmware","url":"https://h/f","version":"123456789012345678901234567890123"}`, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ok, err := ParseUpdate([]byte(tt.in))
			if tt.wantErr {
				require.ErrorIs(t, err, ErrBadMessage)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.ok, ok)
		})
	}
	u, _, err := ParseUpdate([]byte(good))
	require.NoError(t, err)
	assert.Equal(t, Update{Version: "1.3.0", URL: "https://ota.example.com:8443/f.bin?sign=x", MD5: "ad46c1e2e5d0f6e2b1e5c3f5d2e1a5dc", Size: 175436}, u)
}

func TestReportsShape(t *testing.T) {
	var v map[string]any
	require.NoError(t, json.Unmarshal(ProgressReport("1.3.0", Progress{State: "downloading", Percent: "31", ResultCode: "0"}), &v))
	assert.Equal(t, map[string]any{"type": "report_progress", "report": map[string]any{"version": "1.3.0",
		"progress": map[string]any{"state": "downloading", "percent": "31", "result_code": "0", "result_msg": ""}}}, v)
	require.NoError(t, json.Unmarshal(ProgressReport("1.3.0", Progress{State: "burning", ResultCode: "0"}), &v))
	_, hasPercent := v["report"].(map[string]any)["progress"].(map[string]any)["percent"]
	assert.False(t, hasPercent, "burning carries no percent")
	assert.JSONEq(t, `{"type":"report_version","report":{"version":"1.0.0"}}`, string(VersionReport("1.0.0")))
}

func FuzzParseUpdate(f *testing.F) {
	f.Add([]byte(`{"file_size":175436,"md5sum":"ad46c1e2e5d0f6e2b1e5c3f5d2e1a5dc","type":"update_firmware","url":"https://h/f.bin","version":"1.3.0"}`))
	f.Add([]byte(`{"type":"update_firmware","file_size":"1e3"}`))
	f.Add([]byte(`{"type":"report_version_rsp","result_code":0}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		u, ok, err := ParseUpdate(data)
		if err != nil || !ok {
			return
		}
		if ValidateVersion(u.Version) != nil || len(u.MD5) != 32 || u.Size <= 0 || u.Size > MaxFileSize {
			t.Fatalf("accepted a bad update: %+v", u)
		}
	})
}

func FuzzParseCheckpoint(f *testing.F) {
	f.Add([]byte(`{"version":"1.0","url":"https://h/f","md5sum":"ad46c1e2e5d0f6e2b1e5c3f5d2e1a5dc","file_size":10,"written":5,"partial":"/var/lib/iotd/ota/firmware-1.0.part","hash_state":"bWQ1AQ=="}`))
	f.Add([]byte(`{"written":-1}`))
	f.Add([]byte(`{"version":"1.0","url":"https://h/f","md5sum":"ad46c1e2e5d0f6e2b1e5c3f5d2e1a5dc","file_size":10,"written":11,"partial":"x"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseCheckpoint(data)
		if err != nil {
			return
		}
		if c.Written < 0 || c.Written > c.Size || c.Partial == "" {
			t.Fatalf("accepted a bad checkpoint: %+v", c)
		}
		stateLen(c.HashState) // must not panic on any state
	})
}
