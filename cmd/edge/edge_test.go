package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/bus/natsbus"
	"github.com/iotd/iotd/bus/natsbus/natstest"
	"github.com/iotd/iotd/bus/natsconf"
	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/hubsim"
	"github.com/iotd/iotd/internal/hubtest"
)

// wait bounds every wait for something asynchronous: a deadline against
// hangs, never a timing assertion.
const wait = 20 * time.Second

// runUplink is iotd's part of an edge site: a bus on the NATS server at
// url and an MQTT uplink serving it, connected to hub as info, until the
// end of the test.
func runUplink(t *testing.T, hub *hubsim.Hub, info *core.DeviceInfo, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ps, err := natsbus.Open(ctx, natsconf.Config{URL: url}, nil)
	require.NoError(t, err)
	b, err := bus.NewRemote(bus.Config{}, nil, ps)
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	hubtest.ConnectBus(t, hub, info, b)
}

func runCmd(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// The demo's middle: a producer that is only a NATS client publishes
// through the uplink's subject; every message is acknowledged, and hubsim
// logged them all, in order.
func TestProduceThroughNATSToTheHub(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	info, err := hub.CreateDevice("PEDGE00001", "gw", false)
	require.NoError(t, err)
	srv := natstest.Run(t)
	runUplink(t, hub, info, srv.ClientURL())
	topic := info.ProductID + "/" + info.DeviceName + "/event"

	// 40 messages: within hubsim's default burst of 60 per device.
	code, out, errOut := runCmd("produce", "-url", srv.ClientURL(), "-topic", topic, "-n", "40", "-window", "8")
	require.Equal(t, 0, code, "stdout: %s\nstderr: %s", out, errOut)
	assert.Contains(t, out, "40 published, 40 acknowledged, 0 failed")

	code, out, errOut = runCmd("verify", "-admin", hub.AdminURL(), "-device", info.ProductID+"/"+info.DeviceName, "-want", "40")
	require.Equal(t, 0, code, "stdout: %s\nstderr: %s", out, errOut)
	assert.Contains(t, out, "hubsim logged 40 of the 40 messages sent on "+topic+" (in order)")
	var seqs []string
	for _, r := range hub.Messages(info.ProductID, info.DeviceName) {
		if r.Topic == topic {
			seqs = append(seqs, r.Payload[:strings.Index(r.Payload, ",")])
		}
	}
	require.Len(t, seqs, 40)
	assert.Equal(t, `{"seq":0`, seqs[0])
	assert.Equal(t, `{"seq":39`, seqs[39])

	// Asking for more than arrived fails and says how many are missing.
	code, out, errOut = runCmd("verify", "-admin", hub.AdminURL(), "-device", info.ProductID+"/"+info.DeviceName, "-want", "45", "-wait", "0s")
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "hubsim logged 40 of the 45")
	assert.Contains(t, errOut, "5 of 45 messages missing at the hub")
}

// Without iotd there is no stream: produce says to start iotd first.
func TestProduceWithoutIotd(t *testing.T) {
	srv := natstest.Run(t)
	code, _, errOut := runCmd("produce", "-url", srv.ClientURL(), "-topic", "P/D/event", "-n", "1")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "no stream IOTD on "+srv.ClientURL()+": start iotd with bus: {backend: nats")
}

// A request nobody answers (a stream but no uplink) ends after -timeout
// with the reason, and counts the message as failed.
func TestProduceWithoutUplinkTimesOut(t *testing.T) {
	srv := natstest.Run(t)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ps, err := natsbus.Open(ctx, natsconf.Config{URL: srv.ClientURL()}, nil) // creates the stream
	require.NoError(t, err)
	defer ps.Close()
	code, out, errOut := runCmd("produce", "-url", srv.ClientURL(), "-topic", "P/D/event", "-n", "2", "-timeout", "300ms")
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "2 published, 0 acknowledged, 2 failed")
	assert.Contains(t, errOut, "no reply for 300ms")
}

// edge nats serves JetStream on the address it prints, until cancelled.
func TestNATSServes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var errb bytes.Buffer
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"nats", "-addr", "127.0.0.1:0", "-store", t.TempDir()}, pw, &errb)
		pw.Close()
	}()
	url, err := bufio.NewReader(pr).ReadString('\n')
	require.NoError(t, err, errb.String())
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	url = strings.TrimSpace(url)
	require.True(t, strings.HasPrefix(url, "nats://127.0.0.1:"), url)

	nc, err := nats.Connect(url)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	actx, acancel := context.WithTimeout(ctx, wait)
	defer acancel()
	_, err = js.AccountInfo(actx)
	require.NoError(t, err, "JetStream is on")

	cancel()
	select {
	case c := <-code:
		assert.Equal(t, 0, c)
	case <-time.After(wait):
		t.Fatal("edge nats did not stop")
	}
}

func TestUsage(t *testing.T) {
	code, _, errOut := runCmd()
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "usage: edge nats|produce|verify")
	code, _, errOut = runCmd("frobnicate")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `unknown command "frobnicate"`)
	code, _, errOut = runCmd("produce", "-url", "nats://127.0.0.1:1")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "-topic is required")
	code, _, errOut = runCmd("nats", "-addr", "nope")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, `-addr "nope"`)
}
