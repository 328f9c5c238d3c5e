package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/hubsim"
)

// waitFor polls cond; the bound only keeps a broken run from hanging, it
// asserts no time.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, 2*time.Minute, 20*time.Millisecond, what)
}

func startHub(t *testing.T, dir, tlsAddr, adminAddr string) *hubsim.Hub {
	t.Helper()
	h, err := hubsim.Start(context.Background(), hubsim.Config{
		StateDir: dir, TLSAddr: tlsAddr, TCPAddr: hubsim.Off, AdminAddr: adminAddr,
		MessageLog: -1, Logger: slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	return h
}

// A small fleet against an in-process hubsim: every device connects over
// TLS, publishes (QoS 1), reports its shadow, takes an OTA pushed to all,
// and reconnects after the hub restarts on the same ports and state; the
// summary's figures are there and agree with each other.
func TestFleetConnectsPublishesTakesOTAAndSurvivesAHubRestart(t *testing.T) {
	const n = 20
	hubDir := t.TempDir()
	h := startHub(t, hubDir, "127.0.0.1:0", "127.0.0.1:0")
	tlsAddr, adminURL := h.TLSAddr(), h.AdminURL()
	defer func() { _ = h.Close() }()
	admin := hubsim.NewClient(adminURL)
	ctx := context.Background()
	info, err := admin.Info(ctx)
	require.NoError(t, err)

	f, err := New(ctx, admin, Options{
		Devices: n, Product: "FLEETTEST1", Prefix: "t-", Dir: t.TempDir(),
		Endpoint: tlsAddr, TLS: true, SharedTLS: true, CAPEM: []byte(info.CAPEM),
		Jitter: 200 * time.Millisecond, Rate: 5, QoS: 1, Payload: 64, PublishTimeout: time.Minute,
		Shadow:  true,
		Backoff: core.BackoffConfig{Initial: core.Duration(100 * time.Millisecond), Max: core.Duration(time.Second), Jitter: 0.5},
	})
	require.NoError(t, err)
	require.Equal(t, n, f.Len())
	devCtx, stop := context.WithCancel(ctx)
	defer stop()
	f.Start(devCtx)

	waitFor(t, "all devices connect", func() bool { _, ever := f.Connected(); return ever == n })
	f.MarkSteady()
	waitFor(t, "publishes acknowledged", func() bool { return f.pubOK.Load() >= 2*n })
	waitFor(t, "shadows reported", func() bool { return f.shadowOK.Load() == n })

	res, err := f.PushOTA(ctx, admin, "2.0.0", 4096)
	require.NoError(t, err)
	assert.Equal(t, n, res.Pushed)
	assert.Zero(t, res.Offline)
	waitFor(t, "every device installs the firmware", func() bool { return f.otaDone.Load() == n })
	// A device reports "done", then its new version: the hub may see the
	// second a moment after the device counted the install.
	waitFor(t, "the hub saw the new version reported", func() bool {
		st, err := admin.OTAStatus(ctx, "FLEETTEST1", "t-07")
		return err == nil && st.Version == "2.0.0"
	})

	// The hub restarts on the same ports with the same state.
	require.NoError(t, h.Close())
	h = startHub(t, hubDir, tlsAddr, adminURL[len("http://"):])
	waitFor(t, "the reconnect storm ends", func() bool {
		storms, up := f.storm.snapshot()
		return up == n && len(storms) == 1 && storms[0].To100MS > 0
	})
	before := f.pubOK.Load()
	waitFor(t, "publishing again", func() bool { return f.pubOK.Load() >= before+2*n })

	sum := f.Summary(res.Pushed)
	stop()
	f.Wait()

	assert.Equal(t, n, sum.Devices)
	assert.True(t, sum.TLS)
	assert.True(t, sum.SharedTLS)
	assert.Equal(t, n, sum.EverConnected)
	assert.Equal(t, n, sum.Connected)
	assert.EqualValues(t, n, sum.Connect.Count)
	assert.Positive(t, sum.AllConnectedMS)
	assert.LessOrEqual(t, sum.Connect.P50, sum.Connect.P99)
	assert.LessOrEqual(t, sum.Connect.P99, sum.Connect.Max)

	assert.GreaterOrEqual(t, sum.Published, int64(4*n))
	assert.Equal(t, sum.Published, sum.Latency.Count, "one latency per acknowledged publish")
	assert.Positive(t, sum.Latency.P50)
	assert.LessOrEqual(t, sum.Latency.P50, sum.Latency.P99)
	assert.LessOrEqual(t, sum.Latency.P99, sum.Latency.Max)
	assert.Positive(t, sum.PublishRate)
	assert.Positive(t, sum.SteadyRate)

	assert.EqualValues(t, n, sum.ShadowReports)
	assert.Equal(t, n, sum.OTAPushed)
	assert.EqualValues(t, n, sum.OTADone)
	assert.EqualValues(t, n, sum.OTATime.Count)

	require.Len(t, sum.Storms, 1)
	assert.Equal(t, n, sum.Storms[0].Down, "the restart dropped every device")
	assert.Positive(t, sum.Storms[0].To99MS)
	assert.LessOrEqual(t, sum.Storms[0].To99MS, sum.Storms[0].To100MS)

	assert.Positive(t, sum.HeapPerDeviceKB)
	assert.Positive(t, sum.RSSPerDeviceKB)
	var total int64
	for kind, c := range sum.Errors {
		total += c
		assert.Contains(t, kind, "connect: ", "only the restart's connection errors: %s", kind)
	}
	assert.Equal(t, total, sum.ErrorsTotal)
	assert.Positive(t, total, "the restart dropped connections")

	var text bytes.Buffer
	sum.writeText(&text)
	for _, want := range []string{"20/20 ever connected", "acknowledged", "20 pushed, 20 installed", "reconnect:", "KiB/device", "errors:"} {
		assert.Contains(t, text.String(), want)
	}
}

// The command: flags, devices created in hubsim, the JSON summary on
// stdout and the progress on stderr.
func TestRunPrintsTheSummaryAsJSON(t *testing.T) {
	h := startHub(t, t.TempDir(), "127.0.0.1:0", "127.0.0.1:0")
	defer func() { _ = h.Close() }()
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{
		"-admin", h.AdminURL(), "-n", "5", "-product", "FLEETRUN01", "-jitter", "100ms",
		"-rate", "4", "-duration", "1500ms", "-progress", "500ms", "-ota", "-ota-after", "100ms", "-ota-size", "1024", "-json",
	}, &out, &errOut)
	require.NoError(t, err, errOut.String())
	var sum Summary
	require.NoError(t, json.Unmarshal(out.Bytes(), &sum), out.String())
	assert.Equal(t, 5, sum.Devices)
	assert.Equal(t, 5, sum.EverConnected)
	assert.Equal(t, 5, sum.OTAPushed)
	assert.Equal(t, sum.Published, sum.Latency.Count)
	assert.Contains(t, errOut.String(), "connected 5/5")
	assert.Contains(t, errOut.String(), "pushed to 5 devices")

	err = run(context.Background(), []string{"-admin", h.AdminURL(), "-qos", "2"}, io.Discard, io.Discard)
	require.ErrorContains(t, err, "-qos")
}
