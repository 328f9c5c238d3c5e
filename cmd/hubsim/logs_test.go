package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/features/logupload"
	"github.com/iotd/iotd/internal/hubtest"
)

func TestLogsLogLevelAndDynregCommands(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	d := hubtest.Connect(t, hub, "PCLILOGS01", "dev")
	admin := strings.TrimPrefix(hub.AdminURL(), "http://")

	lvl := 4
	u, err := logupload.New(logupload.Config{URL: hub.AdminURL() + "/cgi-bin/report-log", Level: &lvl}, nil, d.Info, nil, nil, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = u.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	require.True(t, u.Add(slog.LevelError, "cli", "line one"))
	require.Eventually(t, func() bool { return u.Flush(ctx) == nil && u.Stats().Uploaded == 1 }, 10e9, 1e7)

	tests := []struct {
		name    string
		args    []string
		want    string
		wantErr string
	}{
		{"logs", []string{"logs", "PCLILOGS01/dev"}, "ERR|", ""},
		{"logs unknown", []string{"logs", "PCLILOGS01/nobody"}, "", "not found"},
		{"loglevel", []string{"loglevel", "PCLILOGS01/dev", "2"}, "log level of PCLILOGS01/dev set to 2\n", ""},
		{"loglevel bad", []string{"loglevel", "PCLILOGS01/dev", "9"}, "", "use 0 to 4"},
		{"dynreg show", []string{"dynreg", "PCLILOGS01"}, "product PCLILOGS01: dynamic registration off;", ""},
		{"dynreg set", []string{"dynreg", "PCLILOGS01", "autocreate", "--cert"}, "dynamic registration autocreate (CERT devices)", ""},
		{"dynreg bad", []string{"dynreg", "PCLILOGS01", "sometimes"}, "", "use off, precreate or autocreate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := run(t, append(tt.args, "--admin", admin)...)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Contains(t, out, tt.want)
		})
	}
	out, err := run(t, "logs", "PCLILOGS01/dev", "--admin", admin)
	require.NoError(t, err)
	assert.True(t, strings.HasSuffix(out, "|cli|app(0): line one\n"), out)
}
