package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/features/gateway"
	"github.com/iotd/iotd/internal/hubtest"
)

func TestGatewayListCommand(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	gw := hubtest.Connect(t, hub, "PCLIGW0001", "gw")
	hubtest.Connect(t, hub, "PCLIGW0001", "lonely")
	var subs []gateway.SubDeviceConfig
	for _, dn := range []string{"b", "a"} {
		info, err := hub.CreateDevice("PCLISUB001", dn, false)
		require.NoError(t, err)
		subs = append(subs, gateway.SubDeviceConfig{ProductID: "PCLISUB001", DeviceName: dn, DeviceSecret: info.KeyDeviceInfo.DeviceSecret})
	}
	auto := false
	g, err := gateway.New(gateway.Config{SubDevices: subs, AutoOnline: &auto}, gw.Bus, "PCLIGW0001", "gw", nil, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})
	opCtx, opCancel := context.WithTimeout(ctx, 15*time.Second)
	defer opCancel()
	res, err := g.Bind(opCtx)
	require.NoError(t, err)
	require.NoError(t, res.Err())
	res, err = g.Online(opCtx, subs[0].Ref())
	require.NoError(t, err)
	require.NoError(t, res.Err())
	admin := strings.TrimPrefix(hub.AdminURL(), "http://")

	tests := []struct {
		name    string
		args    []string
		want    string
		wantErr string
	}{
		{"bound sub-devices", []string{"gateway", "list", "PCLIGW0001/gw"},
			"SUB-DEVICE    STATE\nPCLISUB001/a  offline\nPCLISUB001/b  online\n", ""},
		{"none bound", []string{"gateway", "list", "PCLIGW0001/lonely"}, "no sub-devices bound to PCLIGW0001/lonely\n", ""},
		{"unknown gateway", []string{"gateway", "list", "PCLIGW0001/nobody"}, "", "not found"},
		{"bad device", []string{"gateway", "list", "PCLIGW0001"}, "", "PRODUCT/DEVICE"},
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
			assert.Equal(t, tt.want, out)
		})
	}
}
