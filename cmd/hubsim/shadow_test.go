package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/hubsim"
)

func TestShadowCommands(t *testing.T) {
	h := startHub(t, t.TempDir())
	_, err := h.Store().CreateDevice("PSHCLI0001", "d1", hubsim.AuthKey)
	require.NoError(t, err)
	admin := "--admin=" + h.AdminURL()

	out, err := run(t, "shadow", "desire", "PSHCLI0001/d1", "temp=25", "mode=eco", `note=say "hi"`, admin)
	require.NoError(t, err, out)
	out, err = run(t, "shadow", "get", "PSHCLI0001/d1", admin)
	require.NoError(t, err, out)
	var v hubsim.ShadowView
	require.NoError(t, json.Unmarshal([]byte(out), &v))
	assert.Equal(t, int64(1), v.Version)
	assert.JSONEq(t, `{"temp":25,"mode":"eco","note":"say \"hi\""}`, mustJSON(t, v.Delta))

	out, err = run(t, "shadow", "desire", "PSHCLI0001/d1", "--replace", admin)
	require.NoError(t, err, out)
	var cleared hubsim.ShadowView
	require.NoError(t, json.Unmarshal([]byte(out), &cleared))
	assert.Empty(t, cleared.Desired)
	assert.Equal(t, int64(2), cleared.Version)

	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"bad device", []string{"shadow", "get", "nodevice", admin}, "PRODUCT/DEVICE"},
		{"unknown device", []string{"shadow", "get", "PSHCLI0001/nope", admin}, "not found"},
		{"bad value", []string{"shadow", "desire", "PSHCLI0001/d1", "novalue", admin}, "key=value"},
		{"no values", []string{"shadow", "desire", "PSHCLI0001/d1", admin}, "no values"},
		{"no hub", []string{"shadow", "get", "PSHCLI0001/d1", "--admin", unreachable}, "unreachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := run(t, tt.args...)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}
