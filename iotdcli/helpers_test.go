package iotdcli

import (
	"context"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	_ "github.com/iotd/iotd/drivers/posix" // tcp and tls, which the tests dial
	"github.com/iotd/iotd/hubsim"
)

// startHub runs hubsim on loopback for one test.
func startHub(t *testing.T) *hubsim.Hub {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	hub, err := hubsim.Start(ctx, hubsim.Config{
		StateDir: t.TempDir(), TLSAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		Logger: slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = hub.Close() })
	return hub
}
