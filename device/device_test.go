package device_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/device"
	_ "github.com/iotd/iotd/features/timesync"
	"github.com/iotd/iotd/hubsim"
	"github.com/iotd/iotd/internal/hubtest"
	"github.com/iotd/iotd/localapi"
)

// configFor creates device pid/dn in hub and returns a configuration that
// reaches hub over TLS, with extra YAML appended, in a directory of its own.
func configFor(t *testing.T, hub *hubsim.Hub, pid, dn, endpoint, extra string) *device.Config {
	t.Helper()
	dir := hubtest.DeviceDir(t, hub, pid, dn, false)
	y := "device_info: device_info.json\nsocket: ignored.sock\n" + hubtest.LinkYAML(endpoint, hub.CAFile()) + extra
	cfg, err := device.LoadConfig(hubtest.WriteConfig(t, dir, y))
	require.NoError(t, err)
	return cfg
}

// start builds and runs a device until the test ends.
func start(t *testing.T, cfg *device.Config) *device.Device {
	t.Helper()
	d, err := device.New(cfg, device.WithRegistry(hubtest.Registry(t)), device.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	hubtest.RunReady(t, d.Run, d.Ready())
	return d
}

func waitStatus(t *testing.T, d *device.Device, what string, cond func(localapi.Status) bool) {
	t.Helper()
	require.Eventually(t, func() bool { return cond(d.Status()) }, 15*time.Second, 10*time.Millisecond, what)
}

func connected(st localapi.Status) bool { return st.Link.State == localapi.LinkConnected }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestPublishSubscribeCancel(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	d := start(t, configFor(t, hub, "PDEVAPI001", "dev1", hub.TLSAddr(), ""))
	waitStatus(t, d, "connected", connected)
	ctx := ctxT(t)

	for _, qos := range []byte{0, 1} {
		res, err := d.Publish(ctx, "data", []byte(fmt.Sprintf(`{"qos":%d}`, qos)), qos)
		require.NoError(t, err)
		assert.Equal(t, device.Acknowledged, res)
	}
	require.Eventually(t, func() bool { return len(hub.Messages("PDEVAPI001", "dev1")) >= 2 }, 10*time.Second, 10*time.Millisecond)

	// A topic of another device is refused before it reaches the hub.
	res, err := d.Publish(ctx, "PDEVAPI001/other/data", []byte("x"), 1)
	assert.Equal(t, device.Refused, res)
	assert.ErrorIs(t, err, device.ErrRefused)

	const control = "PDEVAPI001/dev1/control"
	got := make(chan device.Message, 4)
	sub, err := d.Subscribe(ctx, "control", 1, func(m device.Message) { got <- m })
	require.NoError(t, err)
	assert.Equal(t, control, sub.Filter())
	waitStatus(t, d, "subscribed", func(st localapi.Status) bool { return slices.Contains(st.Subscriptions, control) })
	require.NoError(t, hub.Publish(control, []byte("hello"), 1))
	select {
	case m := <-got:
		assert.Equal(t, control, m.Topic)
		assert.Equal(t, "hello", string(m.Payload))
		assert.Equal(t, byte(1), m.QoS)
	case <-time.After(10 * time.Second):
		t.Fatal("no message")
	}

	// The last subscriber's Cancel unsubscribes from the hub.
	sub.Cancel()
	<-sub.Done()
	waitStatus(t, d, "unsubscribed", func(st localapi.Status) bool { return !slices.Contains(st.Subscriptions, control) })
	assert.Zero(t, d.Bus().CloudSubscribers(control))
	require.NoError(t, hub.Publish(control, []byte("late"), 1))
	select {
	case m := <-got:
		t.Fatalf("a message after Cancel: %q", m.Payload)
	case <-time.After(200 * time.Millisecond):
	}
}

// Publishing never waits longer than ctx: before Run it is refused at once;
// while the hub cannot be reached the message waits in the queue until ctx
// ends and is then withdrawn.
func TestPublishBeforeConnectIsBounded(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	cfg := configFor(t, hub, "PDEVAPI002", "dev1", "127.0.0.1:1", "outbox: {enabled: false}\n")
	d, err := device.New(cfg, device.WithRegistry(hubtest.Registry(t)))
	require.NoError(t, err)

	t0 := time.Now()
	res, err := d.Publish(ctxT(t), "data", []byte("x"), 1)
	assert.Equal(t, device.Refused, res)
	assert.ErrorIs(t, err, device.ErrNotRunning)
	assert.Less(t, time.Since(t0), time.Second)

	sctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = d.Subscribe(sctx, "control", 0, func(device.Message) {})
	require.Error(t, err, "subscribe before Run waits for Run, bounded by ctx")

	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { stop(); require.NoError(t, <-done) }()
	<-d.Ready()
	pctx, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	t0 = time.Now()
	res, err = d.Publish(pctx, "data", []byte("x"), 1)
	assert.Equal(t, device.NotSent, res)
	assert.ErrorIs(t, err, device.ErrNotSent)
	assert.Less(t, time.Since(t0), 5*time.Second)

	assert.ErrorIs(t, d.Run(ctx), device.ErrRunning)
}

func TestRunOnceThenClosed(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	cfg := configFor(t, hub, "PDEVAPI003", "dev1", hub.TLSAddr(), "")
	d, err := device.New(cfg, device.WithRegistry(hubtest.Registry(t)))
	require.NoError(t, err)
	require.NoError(t, d.Close())
	assert.ErrorIs(t, d.Run(context.Background()), device.ErrClosed)
	require.NoError(t, d.Close())
}

// Three devices in one process, over one hub: each its own identity, link,
// bus, uplink and state, publishing and subscribing at once.
func TestThreeDevicesInOneProcess(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	const pid = "PDEVTHREE1"
	devs := make([]*device.Device, 3)
	for i := range devs {
		devs[i] = start(t, configFor(t, hub, pid, fmt.Sprintf("dev%d", i), hub.TLSAddr(), ""))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for i, d := range devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- exercise(ctxT(t), hub, d, pid, fmt.Sprintf("dev%d", i))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
	for i := range devs {
		dn := fmt.Sprintf("dev%d", i)
		st := devs[i].Status()
		assert.Equal(t, dn, st.Device)
		for _, m := range hub.Messages(pid, dn) {
			if m.Direction == hubsim.Up && filepath.Base(m.Topic) == "data" {
				assert.Equal(t, pid+"/"+dn+"/data", m.Topic)
			}
		}
	}
}

// exercise publishes and subscribes as one device and checks it got only
// its own messages.
func exercise(ctx context.Context, hub *hubsim.Hub, d *device.Device, pid, dn string) error {
	for !connected(d.Status()) {
		select {
		case <-ctx.Done():
			return errors.New(dn + ": not connected")
		case <-time.After(10 * time.Millisecond):
		}
	}
	got := make(chan device.Message, 16)
	sub, err := d.Subscribe(ctx, "control", 1, func(m device.Message) { got <- m })
	if err != nil {
		return err
	}
	defer sub.Cancel()
	for i := range 5 {
		if res, err := d.Publish(ctx, "data", []byte(fmt.Sprintf(`{"n":%d}`, i)), byte(i%2)); err != nil || res != device.Acknowledged {
			return fmt.Errorf("%s: publish %d: %s %v", dn, i, res, err)
		}
	}
	control := pid + "/" + dn + "/control"
	for !slices.Contains(d.Status().Subscriptions, control) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := hub.Publish(control, []byte(dn), 1); err != nil {
		return err
	}
	select {
	case m := <-got:
		if string(m.Payload) != dn || m.Topic != control {
			return fmt.Errorf("%s got %s on %s", dn, m.Payload, m.Topic)
		}
	case <-ctx.Done():
		return errors.New(dn + ": no control message")
	}
	return nil
}

// A feature linked by a blank import runs in the device: time sync sets
// the device's clock.
func TestLinkedFeatureRuns(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	d := start(t, configFor(t, hub, "PDEVAPI004", "dev1", hub.TLSAddr(), ""))
	waitStatus(t, d, "time synced", func(st localapi.Status) bool { return !st.LastSync.IsZero() })
}
