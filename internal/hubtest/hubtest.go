// Package hubtest runs, for a test, what a feature needs to talk to a hub
// for real: a hubsim on loopback, a device created in it, and the MQTT uplink
// connected to it over TLS through the posix tls driver, serving a bus. A
// feature under test then uses only the bus, exactly as in the daemon.
package hubtest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/bus"
	mqttup "github.com/iotd/iotd/bus/mqtt"
	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/posix"
	"github.com/iotd/iotd/hubsim"
)

// StartHub starts a hubsim with all listeners on free loopback ports (CoAP
// over DTLS and plain CoAP included: hub.CoAPAddr(), hub.CoAPPlainAddr())
// and a state directory of the test's; it stops at the end of the test.
// now may be nil.
func StartHub(t testing.TB, now func() time.Time) *hubsim.Hub {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	hub, err := hubsim.Start(ctx, hubsim.Config{
		StateDir: t.TempDir(), TLSAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		CoAPAddr: "127.0.0.1:0", CoAPPlainAddr: "127.0.0.1:0",
		Now: now, Logger: slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = hub.Close() })
	return hub
}

// Device is one device connected to a hub through a running uplink.
type Device struct {
	Hub    *hubsim.Hub
	Info   *core.DeviceInfo
	Bus    *bus.Bus
	Link   *core.Link
	Uplink *mqttup.Uplink
	gate   *gate
	stop   func()
}

// Connect creates device pid/dn in hub (unless it exists) and connects it
// over TLS, verifying hubsim's CA. It returns once the MQTT session is up.
// The device disconnects at the end of the test, or earlier through Stop.
func Connect(t testing.TB, hub *hubsim.Hub, pid, dn string) *Device {
	t.Helper()
	info, err := hub.CreateDevice(pid, dn, false)
	require.NoError(t, err)
	return ConnectAs(t, hub, info)
}

// ConnectAs connects an existing device identity to hub.
func ConnectAs(t testing.TB, hub *hubsim.Hub, info *core.DeviceInfo) *Device {
	t.Helper()
	b, err := bus.New(bus.Config{}, nil)
	require.NoError(t, err)
	return connect(t, hub, info, b, true)
}

// ConnectBus connects an existing device identity to hub with its uplink
// serving b, a bus the caller made (on another backend, such as NATS) and
// closes: Stop leaves it open.
func ConnectBus(t testing.TB, hub *hubsim.Hub, info *core.DeviceInfo, b *bus.Bus) *Device {
	t.Helper()
	return connect(t, hub, info, b, false)
}

func connect(t testing.TB, hub *hubsim.Hub, info *core.DeviceInfo, b *bus.Bus, ownBus bool) *Device {
	t.Helper()
	g := &gate{}
	reg := core.NewRegistry()
	require.NoError(t, reg.Register(gatedDriver{posix.NewTLS(), g}))
	link, err := reg.OpenLink(core.LinkConfig{
		Driver: "tls", Address: hub.TLSAddr(), Transport: driver.Stream,
		DriverConfig: []byte(`{"ca_file":"` + hub.CAFile() + `"}`),
		DialTimeout:  5 * time.Second,
		Backoff:      core.BackoffConfig{Initial: core.Duration(50 * time.Millisecond), Max: core.Duration(500 * time.Millisecond)},
	}, core.LinkOptions{OnState: b.PublishLinkState})
	require.NoError(t, err)
	up, err := mqttup.New(mqttup.Config{Credentials: func() (core.Credentials, error) {
		return core.MQTTCredentials(info, core.CredentialOptions{})
	}}, link, b, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- up.Run(ctx) }()
	d := &Device{Hub: hub, Info: info, Bus: b, Link: link, Uplink: up, gate: g}
	var stopped bool
	d.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("hubtest: uplink did not stop within 10s")
		}
		if ownBus {
			_ = b.Close()
		}
	}
	t.Cleanup(d.stop)
	deadline := time.Now().Add(15 * time.Second)
	// Connected on both sides: the uplink saw CONNACK, and the hub recorded
	// the session (just after sending CONNACK).
	for up.Status().ConnectedSince.IsZero() || !hub.Status(info.ProductID, info.DeviceName).Connected {
		if time.Now().After(deadline) {
			t.Fatalf("hubtest: %s did not connect: %+v", info.ClientID(), up.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return d
}

// Stop disconnects the device and closes its bus (as stopping iotd would;
// not a bus given to ConnectBus).
func (d *Device) Stop() { d.stop() }

// Connected reports whether the MQTT session is up.
func (d *Device) Connected() bool { return !d.Uplink.Status().ConnectedSince.IsZero() }

// HoldDials keeps the device from connecting (each dial waits) until the
// returned function is called: a test can then change things on the hub
// while the device is certainly offline.
func (d *Device) HoldDials() (release func()) { return d.gate.hold() }
