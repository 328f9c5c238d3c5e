package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/posix"
)

// TestLogLinesAreHCLogJSON checks the fields go-plugin's host parses: a
// line it cannot parse is logged as plain text at debug level.
func TestLogLinesAreHCLogJSON(t *testing.T) {
	tests := []struct {
		level slog.Level
		want  string
	}{
		{slog.LevelDebug - 4, "trace"},
		{slog.LevelDebug, "debug"},
		{slog.LevelInfo, "info"},
		{slog.LevelWarn, "warn"},
		{slog.LevelError, "error"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			var buf bytes.Buffer
			l := slog.New(newLogHandler(&buf, slog.LevelDebug-4))
			l.Log(context.Background(), tt.level, "hello", "k", 7, slog.Group("g", "time", "inner"))
			var m map[string]any
			require.NoError(t, json.Unmarshal(buf.Bytes(), &m))
			assert.Equal(t, tt.want, m["@level"])
			assert.Equal(t, "hello", m["@message"])
			_, err := time.Parse(hclogTime, m["@timestamp"].(string))
			assert.NoError(t, err)
			assert.InDelta(t, 7, m["k"], 0)
			assert.Equal(t, map[string]any{"time": "inner"}, m["g"])
		})
	}
}

func TestNewServerRejects(t *testing.T) {
	tests := []struct {
		name    string
		drivers []driver.Driver
		want    string
	}{
		{"none", nil, "at least one driver"},
		{"nil", []driver.Driver{nil}, "nil driver"},
		{"duplicate", []driver.Driver{posix.NewTCP(), Declare(posix.NewTCP(), Capabilities{})}, `two drivers are named "tcp"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newServer(tt.drivers)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

type versioned struct{ driver.Driver }

func (versioned) Version() string { return "9.9" }

func TestDescribeAdvertises(t *testing.T) {
	tests := []struct {
		name            string
		d               driver.Driver
		version         string
		maxPayload      int64
		signal, sleeper bool
	}{
		{name: "plain", d: posix.NewTCP()},
		{name: "declared", d: Declare(posix.NewUDP(), Capabilities{MaxPayload: 1200, Signal: true}), maxPayload: 1200, signal: true},
		{name: "versioned through Declare", d: Declare(versioned{posix.NewTCP()}, Capabilities{Sleeper: true}), version: "9.9", sleeper: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info := describe(tt.d)
			assert.Equal(t, tt.version, info.Version)
			assert.Equal(t, tt.version != "", info.HasVersion)
			assert.Equal(t, tt.maxPayload, info.MaxPayload)
			assert.Equal(t, tt.signal, info.Signal)
			assert.Equal(t, tt.sleeper, info.Sleeper)
		})
	}
}
