package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/features/gateway"
	"github.com/iotd/iotd/features/shadow"
	"github.com/iotd/iotd/hubsim"
	"github.com/iotd/iotd/internal/hubtest"
	"github.com/iotd/iotd/internal/leakcheck"
)

// wait bounds every wait for something asynchronous; it is a deadline
// against hangs, not a timing assertion.
const wait = 15 * time.Second

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// start runs a gateway on dev's bus until the end of the test.
func start(t *testing.T, dev *hubtest.Device, cfg gateway.Config) *gateway.Gateway {
	t.Helper()
	g, err := gateway.New(cfg, dev.Bus, dev.Info.ProductID, dev.Info.DeviceName, nil, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(wait):
			t.Error("gateway: Run did not return after cancel")
		}
	})
	return g
}

// keySub creates a key sub-device and returns its configuration.
func keySub(t *testing.T, hub *hubsim.Hub, pid, dn string) gateway.SubDeviceConfig {
	t.Helper()
	info, err := hub.CreateDevice(pid, dn, false)
	require.NoError(t, err)
	return gateway.SubDeviceConfig{ProductID: pid, DeviceName: dn, DeviceSecret: info.KeyDeviceInfo.DeviceSecret}
}

func certSub(t *testing.T, hub *hubsim.Hub, pid, dn string) gateway.SubDeviceConfig {
	t.Helper()
	info, err := hub.CreateDevice(pid, dn, true)
	require.NoError(t, err)
	require.True(t, filepath.IsAbs(info.CertFile()))
	return gateway.SubDeviceConfig{ProductID: pid, DeviceName: dn, CertFile: info.CertFile()}
}

func states(g *gateway.Gateway) map[string]string {
	out := map[string]string{}
	for _, s := range g.List() {
		out[s.Ref.String()] = s.State
	}
	return out
}

func waitStates(t *testing.T, g *gateway.Gateway, want map[string]string) {
	t.Helper()
	require.Eventually(t, func() bool { return fmt.Sprint(states(g)) == fmt.Sprint(want) }, wait, 10*time.Millisecond,
		"sub-device states: want %v", want)
}

func hubOnline(t *testing.T, hub *hubsim.Hub, gw *hubtest.Device) map[string]bool {
	t.Helper()
	views, err := hubsim.NewClient(hub.AdminURL()).SubDevices(context.Background(), gw.Info.ProductID, gw.Info.DeviceName)
	require.NoError(t, err)
	out := map[string]bool{}
	for _, v := range views {
		out[v.ProductID+"/"+v.DeviceName] = v.Online
	}
	return out
}

func next(t *testing.T, ch <-chan *message.Message) *message.Message {
	t.Helper()
	select {
	case m, ok := <-ch:
		require.True(t, ok, "subscription closed")
		m.Ack()
		return m
	case <-time.After(wait):
		t.Fatal("nothing received")
		return nil
	}
}

func upPayloads(hub *hubsim.Hub, pid, dn string) []string {
	var out []string
	for _, r := range hub.Messages(pid, dn) {
		if r.Direction == hubsim.Up && !r.Denied {
			out = append(out, r.Topic+" "+r.Payload)
		}
	}
	return out
}

func TestThreeSubDevicesOnlinePublishAndReceive(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	gwDev := hubtest.Connect(t, hub, "PGWT000001", "gw")
	subs := []gateway.SubDeviceConfig{
		keySub(t, hub, "PSUBT00001", "lamp1"),
		keySub(t, hub, "PSUBT00001", "lamp2"),
		certSub(t, hub, "PSUBT00002", "meter"),
	}
	g := start(t, gwDev, gateway.Config{SubDevices: subs, AutoBind: true})
	waitStates(t, g, map[string]string{"PSUBT00001/lamp1": "online", "PSUBT00001/lamp2": "online", "PSUBT00002/meter": "online"})
	assert.Equal(t, map[string]bool{"PSUBT00001/lamp1": true, "PSUBT00001/lamp2": true, "PSUBT00002/meter": true}, hubOnline(t, hub, gwDev))

	ctx := ctxT(t)
	for _, s := range subs {
		t.Run(s.String(), func(t *testing.T) {
			control := s.ProductID + "/" + s.DeviceName + "/control"
			ch, err := gwDev.Bus.CloudSubscribe(ctx, control, 1)
			require.NoError(t, err)
			require.NoError(t, hub.Publish(control, []byte("to "+s.DeviceName), 1))
			m := next(t, ch)
			assert.Equal(t, "to "+s.DeviceName, string(m.Payload))
			assert.Equal(t, control, m.Metadata.Get(bus.MetaTopic))

			event := s.ProductID + "/" + s.DeviceName + "/event"
			require.NoError(t, gwDev.Bus.CloudPublish(ctx, event, []byte("from "+s.DeviceName), 1))
			assert.Contains(t, upPayloads(hub, s.ProductID, s.DeviceName), event+" from "+s.DeviceName,
				"the gateway's publish is in the sub-device's message log")
		})
	}

	// Concurrent operations of one type for different sub-devices each get
	// their own result.
	var wg sync.WaitGroup
	results := make([]gateway.Results, len(subs))
	for i, s := range subs {
		wg.Go(func() {
			res, err := g.Offline(ctx, s.Ref())
			assert.NoError(t, err)
			results[i] = res
		})
	}
	wg.Wait()
	for i, s := range subs {
		require.Len(t, results[i], 1)
		assert.Equal(t, s.Ref(), results[i][0].Ref)
		assert.NoError(t, results[i][0].Err)
		assert.Equal(t, 0, results[i][0].Code)
	}
	assert.Equal(t, map[string]bool{"PSUBT00001/lamp1": false, "PSUBT00001/lamp2": false, "PSUBT00002/meter": false}, hubOnline(t, hub, gwDev))
	waitStates(t, g, map[string]string{"PSUBT00001/lamp1": "bound", "PSUBT00001/lamp2": "bound", "PSUBT00002/meter": "bound"})

	bound, err := g.Describe(ctx)
	require.NoError(t, err)
	assert.ElementsMatch(t, []gateway.Ref{subs[0].Ref(), subs[1].Ref(), subs[2].Ref()}, bound)
	st := g.Stats()
	assert.Zero(t, st.Timeouts)
	assert.Zero(t, st.Rejected)
	assert.Equal(t, 0, st.Online)
}

func TestBindRefusals(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	gwDev := hubtest.Connect(t, hub, "PGWT000002", "gw")
	good := keySub(t, hub, "PSUBT00003", "good")
	wrong := keySub(t, hub, "PSUBT00003", "wrong")
	wrong.DeviceSecret = good.DeviceSecret // another device's secret
	_, err := hub.CreateDevice("PSUBT00003", "nocreds", false)
	require.NoError(t, err)
	noCreds := gateway.SubDeviceConfig{ProductID: "PSUBT00003", DeviceName: "nocreds"}
	auto := false
	g := start(t, gwDev, gateway.Config{SubDevices: []gateway.SubDeviceConfig{good, wrong, noCreds}, AutoOnline: &auto})
	ctx := ctxT(t)
	ghost := gateway.SubDeviceConfig{ProductID: "PSUBT00003", DeviceName: "ghost", DeviceSecret: good.DeviceSecret}
	require.NoError(t, g.AddSubDevice(ghost))
	assert.ErrorIs(t, g.AddSubDevice(ghost), gateway.ErrExists)

	res, err := g.Bind(ctx, good.Ref(), wrong.Ref(), noCreds.Ref(), ghost.Ref())
	require.NoError(t, err)
	require.Len(t, res, 4)
	assert.NoError(t, res[0].Err)
	var re *gateway.ResultError
	require.ErrorAs(t, res[1].Err, &re)
	assert.Equal(t, hubsim.GatewayBadSignature, re.Code)
	assert.ErrorIs(t, res[1].Err, gateway.ErrRejected)
	assert.ErrorIs(t, res[2].Err, gateway.ErrNoCredentials)
	assert.Equal(t, -1, res[2].Code, "not sent")
	assert.Equal(t, hubsim.GatewayUnknownSubDevice, res[3].Code)
	assert.Error(t, res.Err())

	// The refused sub-device is not bound: online is refused and the hub
	// lists only the good one.
	res, err = g.Online(ctx, wrong.Ref())
	require.NoError(t, err)
	assert.Equal(t, hubsim.GatewayNotBound, res[0].Code)
	assert.Equal(t, map[string]bool{"PSUBT00003/good": false}, hubOnline(t, hub, gwDev))
	byName := map[string]gateway.SubDevice{}
	for _, s := range g.List() {
		byName[s.DeviceName] = s
	}
	assert.Equal(t, gateway.StateBound, byName["good"].State)
	assert.Equal(t, gateway.StateOffline, byName["wrong"].State)
	assert.Contains(t, byName["wrong"].LastError, "result 1003")
	assert.False(t, byName["nocreds"].CanBind)

	_, err = g.Unbind(ctx)
	assert.ErrorContains(t, err, "name the sub-devices")
	res, err = g.Unbind(ctx, good.Ref())
	require.NoError(t, err)
	assert.NoError(t, res.Err())
	assert.Empty(t, hubOnline(t, hub, gwDev))
}

func TestNoAccessWhileOfflineOrUnbound(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	gwDev := hubtest.Connect(t, hub, "PGWT000003", "gw")
	s := keySub(t, hub, "PSUBT00004", "s")
	g := start(t, gwDev, gateway.Config{SubDevices: []gateway.SubDeviceConfig{s}, AutoBind: true})
	waitStates(t, g, map[string]string{"PSUBT00004/s": "online"})
	ctx := ctxT(t)
	control, event := "PSUBT00004/s/control", "PSUBT00004/s/event"
	ch, err := gwDev.Bus.CloudSubscribe(ctx, control, 1)
	require.NoError(t, err)

	res, err := g.Offline(ctx, s.Ref())
	require.NoError(t, err)
	require.NoError(t, res.Err())
	require.NoError(t, hub.Publish(control, []byte("while offline"), 1))
	// The hub closes the connection on a publish it denies; the uplink
	// parks the message after it ended a few sessions and says so.
	err = gwDev.Bus.CloudPublish(ctx, event, []byte("while offline"), 1)
	require.ErrorIs(t, err, bus.ErrRefused)
	assert.Contains(t, err.Error(), "parked as a dead letter")
	recs := hub.Messages("PGWT000003", "gw")
	assert.True(t, recs[len(recs)-1].Denied, "the hub denied the publish")
	assert.Empty(t, upPayloads(hub, "PSUBT00004", "s"))

	res, err = g.Online(ctx, s.Ref())
	require.NoError(t, err)
	require.NoError(t, res.Err())
	require.NoError(t, hub.Publish(control, []byte("while online"), 1))
	assert.Equal(t, "while online", string(next(t, ch).Payload), "the message sent while offline never arrived")

	res, err = g.Unbind(ctx, s.Ref())
	require.NoError(t, err)
	require.NoError(t, res.Err())
	_, err = gwDev.Bus.CloudSubscribe(ctx, "PSUBT00004/s/data", 0)
	assert.ErrorContains(t, err, "refused the subscription")
	require.ErrorIs(t, gwDev.Bus.CloudPublish(ctx, event, []byte("unbound"), 1), bus.ErrRefused)
	assert.Empty(t, upPayloads(hub, "PSUBT00004", "s"))
}

func TestShadowOfASubDeviceThroughTheGateway(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	gwDev := hubtest.Connect(t, hub, "PGWT000004", "gw")
	s := keySub(t, hub, "PSUBT00005", "thermo")
	g := start(t, gwDev, gateway.Config{SubDevices: []gateway.SubDeviceConfig{s}, AutoBind: true})
	waitStates(t, g, map[string]string{"PSUBT00005/thermo": "online"})

	sh, err := shadow.New(shadow.Config{}, gwDev.Bus, s.ProductID, s.DeviceName, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sh.Run(ctx) }()
	defer func() {
		cancel()
		assert.NoError(t, <-done)
	}()
	doc, err := sh.Report(ctxT(t), map[string]any{"temp": 19.5})
	require.NoError(t, err)
	assert.Equal(t, "19.5", string(doc.Reported["temp"]))
	view, err := hubsim.NewClient(hub.AdminURL()).Shadow(ctxT(t), s.ProductID, s.DeviceName)
	require.NoError(t, err)
	assert.Equal(t, "19.5", string(view.Reported["temp"]), "stored as the sub-device's document")
	gwView, err := hubsim.NewClient(hub.AdminURL()).Shadow(ctxT(t), "PGWT000004", "gw")
	require.NoError(t, err)
	assert.Empty(t, gwView.Reported, "not the gateway's")
}

func TestOnlineSetRestoredAfterBrokerRestart(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	gwDev := hubtest.Connect(t, hub, "PGWT000005", "gw")
	a := keySub(t, hub, "PSUBT00006", "a")
	b := keySub(t, hub, "PSUBT00006", "b")
	c := keySub(t, hub, "PSUBT00006", "c")
	g := start(t, gwDev, gateway.Config{SubDevices: []gateway.SubDeviceConfig{a, b, c}, AutoBind: true})
	waitStates(t, g, map[string]string{"PSUBT00006/a": "online", "PSUBT00006/b": "online", "PSUBT00006/c": "online"})
	ctx := ctxT(t)
	res, err := g.Offline(ctx, c.Ref())
	require.NoError(t, err)
	require.NoError(t, res.Err())
	ch, err := gwDev.Bus.CloudSubscribe(ctx, "PSUBT00006/a/control", 1)
	require.NoError(t, err)

	// Restart the broker on the same state directory and address.
	release := gwDev.HoldDials()
	stateDir, addr := filepath.Dir(hub.CAFile()), hub.TLSAddr()
	require.NoError(t, hub.Close())
	require.Eventually(t, func() bool { return !gwDev.Connected() }, wait, 10*time.Millisecond)
	waitStates(t, g, map[string]string{"PSUBT00006/a": "bound", "PSUBT00006/b": "bound", "PSUBT00006/c": "bound"})
	hub2, err := hubsim.Start(context.Background(), hubsim.Config{StateDir: stateDir, TLSAddr: addr, TCPAddr: hubsim.Off,
		AdminAddr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = hub2.Close() })
	release()

	waitStates(t, g, map[string]string{"PSUBT00006/a": "online", "PSUBT00006/b": "online", "PSUBT00006/c": "bound"})
	require.Eventually(t, func() bool {
		on := hubOnline(t, hub2, gwDev)
		return on["PSUBT00006/a"] && on["PSUBT00006/b"] && !on["PSUBT00006/c"]
	}, wait, 10*time.Millisecond)
	// The subscription made before the restart works again.
	require.NoError(t, hub2.Publish("PSUBT00006/a/control", []byte("after restart"), 1))
	assert.Equal(t, "after restart", string(next(t, ch).Payload))
	assert.GreaterOrEqual(t, g.Stats().Restores, uint64(4), "two at start, two after the restart")
}

func TestBadResultsCounted(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	gwDev := hubtest.Connect(t, hub, "PGWT000006", "gw")
	s := keySub(t, hub, "PSUBT00007", "s")
	g := start(t, gwDev, gateway.Config{SubDevices: []gateway.SubDeviceConfig{s}, AutoBind: true})
	waitStates(t, g, map[string]string{"PSUBT00007/s": "online"})
	topic := "$gateway/operation/result/PGWT000006/gw"

	tests := []struct {
		name    string
		payload string
		counter func(gateway.Stats) uint64
	}{
		{"not json", `{"type":`, func(s gateway.Stats) uint64 { return s.Malformed }},
		{"unknown type", `{"type":"reboot"}`, func(s gateway.Stats) uint64 { return s.UnknownType }},
		{"entry without result", `{"type":"online","payload":{"devices":[{"product_id":"PSUBT00007","device_name":"s"}]}}`,
			func(s gateway.Stats) uint64 { return s.BadEntries }},
		{"unknown sub-device", `{"type":"online","payload":{"devices":[{"product_id":"PNOPE00000","device_name":"x","result":0}]}}`,
			func(s gateway.Stats) uint64 { return s.UnknownSubDevice }},
		{"nobody waiting", `{"type":"offline","payload":{"devices":[{"product_id":"PSUBT00007","device_name":"s","result":0}]}}`,
			func(s gateway.Stats) uint64 { return s.Orphaned }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.counter(g.Stats())
			require.NoError(t, hub.Publish(topic, []byte(tt.payload), 1))
			require.Eventually(t, func() bool { return tt.counter(g.Stats()) == before+1 }, wait, 10*time.Millisecond)
		})
	}
	// Nothing was disturbed: the sub-device is still online and operations work.
	assert.Equal(t, gateway.StateOnline, g.List()[0].State)
	res, err := g.Offline(ctxT(t), s.Ref())
	require.NoError(t, err)
	assert.NoError(t, res.Err())
}

func TestTimeoutAndNotRunning(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	gwDev := hubtest.Connect(t, hub, "PGWT000007", "gw")
	g, err := gateway.New(gateway.Config{Timeout: 50 * time.Millisecond}, gwDev.Bus, "PGWT000007", "gw", nil, nil)
	require.NoError(t, err)
	_, err = g.Online(ctxT(t), gateway.Ref{ProductID: "PSUBT00008", DeviceName: "s"})
	assert.ErrorIs(t, err, gateway.ErrNotRunning)

	// Once running, keep the device offline (hub gone, dials held): no
	// result can come, and the operation times out.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	defer func() {
		cancel()
		assert.NoError(t, <-done)
	}()
	require.Eventually(t, func() bool {
		_, err := g.Describe(ctxT(t))
		return err == nil
	}, wait, 10*time.Millisecond)
	release := gwDev.HoldDials()
	defer release()
	hub.Close()
	require.Eventually(t, func() bool { return !gwDev.Connected() }, wait, 10*time.Millisecond)
	res, err := g.Online(ctxT(t), gateway.Ref{ProductID: "PSUBT00008", DeviceName: "s"})
	if err == nil {
		require.Len(t, res, 1)
		err = res[0].Err
	}
	assert.True(t, errors.Is(err, gateway.ErrTimeout), "got %v", err)
	assert.Positive(t, g.Stats().Timeouts)
}

// TestNoGoroutineLeak runs operations and a restore, then checks that
// every goroutine the gateway started ended with Run.
func TestNoGoroutineLeak(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	gwDev := hubtest.Connect(t, hub, "PGWT000008", "gw")
	s := keySub(t, hub, "PSUBT00009", "s")
	snap := leakcheck.Take()
	g, err := gateway.New(gateway.Config{SubDevices: []gateway.SubDeviceConfig{s}, AutoBind: true}, gwDev.Bus, "PGWT000008", "gw", nil, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	waitStates(t, g, map[string]string{"PSUBT00009/s": "online"})
	_, err = g.Describe(ctxT(t))
	require.NoError(t, err)
	cancel()
	require.NoError(t, <-done)
	snap.Check(t, wait, nil)
}
