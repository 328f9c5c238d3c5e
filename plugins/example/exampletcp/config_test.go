package exampletcp_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/iotd/iotd/plugins/example/exampletcp"
)

func TestOpenConfig(t *testing.T) {
	tests := []struct {
		name, config, err string
	}{
		{"empty", "", ""},
		{"defaults", "{}", ""},
		{"keep-alive", `{"keep_alive_seconds": 30}`, ""},
		{"off", `{"keep_alive_seconds": -1}`, ""},
		{"unknown key", `{"keepalive": 30}`, `unknown field "keepalive"`},
		{"bad value", `{"keep_alive_seconds": -5}`, "keep_alive_seconds is -5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := exampletcp.New().Open([]byte(tt.config))
			if tt.err == "" {
				assert.NoError(t, err)
			} else {
				assert.ErrorContains(t, err, tt.err)
			}
		})
	}
}

func FuzzOpenConfig(f *testing.F) {
	f.Add([]byte(`{"keep_alive_seconds": 30}`))
	f.Add([]byte(`{"x":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := exampletcp.New().Open(b)
		if (d == nil) == (err == nil) {
			t.Fatalf("Open(%q) = %v, %v", b, d, err)
		}
	})
}
