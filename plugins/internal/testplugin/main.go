// Command testplugin is the plugin binary the plugins tests build: the
// posix tcp, tls, udp and dtls drivers served through plugins/sdk, and a
// "test.errors" driver whose Open returns the sentinel its configuration
// names and whose Probe logs a line. IOTD_TESTPLUGIN_NOISE makes it print to
// stdout before serving, as a careless init function would.
//
// IOTD_TESTPLUGIN_PROTOCOL=1 makes it a plugin of protocol version 1, as
// one built with an older SDK is.
//
// IOTD_TESTPLUGIN_CPUPROFILE=FILE writes the plugin's CPU profile to FILE.
//
// IOTD_TESTPLUGIN_AT=1 adds the AT modem drivers (at, at.esp, at.quectel,
// at.simcom, at.ublox): they open the serial port their JSON config names,
// such as the pty of an atsim modem in the test process. They are opt-in so
// that the tests of the plugin machinery see the six drivers above only,
// and no Probe of "at" looks at the host's serial ports. IOTD_AT_DEBUG=1
// sends the modems' logs to the host.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/iotd/iotd/core/driver"
	_ "github.com/iotd/iotd/drivers/at/builtin" // every dialect
	"github.com/iotd/iotd/drivers/at/modem"
	"github.com/iotd/iotd/drivers/posix"
	"github.com/iotd/iotd/drivers/posix/dtls"
	"github.com/iotd/iotd/plugins/internal/wire"
	"github.com/iotd/iotd/plugins/sdk"
)

func main() {
	if os.Getenv("IOTD_TESTPLUGIN_PROTOCOL") == "1" {
		serveV1()
		return
	}
	if s := os.Getenv("IOTD_TESTPLUGIN_NOISE"); s != "" {
		fmt.Println(s)
		fmt.Println("1|1|tcp|not-an-address") // half a handshake: still noise
	}
	drivers := []driver.Driver{
		posix.NewTCP(),
		posix.NewTLS(),
		sdk.Declare(posix.NewUDP(), sdk.Capabilities{MaxPayload: 65507}),
		dtls.New(),
		errorsDriver{},
		sdk.Declare(radioDriver{}, sdk.Capabilities{Signal: true, Sleeper: true}),
	}
	for _, d := range atDrivers() {
		if os.Getenv("IOTD_AT_DEBUG") != "" {
			d.Logger = sdk.Logger()
		}
		// Their conns report the modem's signal; the payload limit depends
		// on the dialect, so each conn reports its own.
		drivers = append(drivers, sdk.Declare(d, sdk.Capabilities{Signal: true}))
	}
	if path := os.Getenv("IOTD_TESTPLUGIN_CPUPROFILE"); path != "" {
		// the plugin's half of a benchmark's profile (bench/plugin_test.go)
		if f, err := os.Create(path); err == nil && pprof.StartCPUProfile(f) == nil {
			defer f.Close()
			defer pprof.StopCPUProfile()
		}
	}
	sdk.Serve(drivers...)
}

// atDrivers are the AT modem drivers when IOTD_TESTPLUGIN_AT=1 asks for
// them, otherwise none.
func atDrivers() []*modem.Driver {
	if os.Getenv("IOTD_TESTPLUGIN_AT") != "1" {
		return nil
	}
	return modem.Drivers()
}

// radioDriver dials TCP and gives its conns a radio's capabilities.
type radioDriver struct{}

func (radioDriver) Name() string                   { return "test.radio" }
func (radioDriver) Transports() []driver.Transport { return []driver.Transport{driver.Stream} }
func (radioDriver) Probe(context.Context) error    { return nil }

// Open takes an optional {"bytes_per_second": N}: the conns' Writes then
// take the bytes at that pace, 64 at a time, as a slow modem does.
func (radioDriver) Open(config []byte) (driver.Dialer, error) {
	var c struct {
		BytesPerSecond int `json:"bytes_per_second"`
	}
	if len(config) > 0 {
		if err := json.Unmarshal(config, &c); err != nil {
			return nil, fmt.Errorf("test.radio: %w", err)
		}
	}
	return radioDialer{rate: c.BytesPerSecond}, nil
}

type radioDialer struct{ rate int }

// Dial to "crash:1" panics, so that tests see a plugin crash on its own.
func (d radioDialer) Dial(ctx context.Context, _ driver.Transport, address string) (driver.Conn, error) {
	if address == "crash:1" {
		panic("testplugin: asked to crash")
	}
	c, err := (&net.Dialer{}).DialContext(ctx, "tcp", address)
	if err != nil {
		return nil, err
	}
	return &radioConn{Conn: c, rate: d.rate, closed: make(chan struct{})}, nil
}

type radioConn struct {
	net.Conn
	rate      int
	closed    chan struct{}
	closeOnce sync.Once
}

// Write paces p when the dialer has a rate; Close ends the wait.
func (c *radioConn) Write(p []byte) (int, error) {
	if c.rate <= 0 {
		return c.Conn.Write(p)
	}
	const piece = 64
	n := 0
	for len(p) > 0 {
		k := min(piece, len(p))
		t := time.NewTimer(time.Duration(k) * time.Second / time.Duration(c.rate))
		select {
		case <-t.C:
		case <-c.closed:
			t.Stop()
			return n, &net.OpError{Op: "write", Net: "test.radio", Err: net.ErrClosed}
		}
		m, err := c.Conn.Write(p[:k])
		n += m
		if err != nil {
			return n, err
		}
		p = p[k:]
	}
	return n, nil
}

func (c *radioConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

func (*radioConn) MaxPayload() int { return 1460 }

func (*radioConn) Signal(context.Context) (driver.Signal, error) {
	return driver.Signal{RSSI: -71, Quality: 80, Technology: "LTE"}, nil
}

func (*radioConn) Sleep(ctx context.Context, d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("test.radio: sleep %v: %w", d, driver.ErrNotSupported)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errorsDriver reports, from Open, the sentinel numbered by its config's
// "sentinel" (an index into wire.Sentinels), wrapped with a cause.
type errorsDriver struct{}

func (errorsDriver) Name() string                   { return "test.errors" }
func (errorsDriver) Transports() []driver.Transport { return []driver.Transport{driver.Stream} }
func (errorsDriver) Version() string                { return "0.0.1-test" }

func (errorsDriver) Probe(ctx context.Context) error {
	slog.Info("testplugin: probe called", "marker", "probe-7f3a")
	return nil
}

func (errorsDriver) Open(config []byte) (driver.Dialer, error) {
	var c struct {
		Sentinel int `json:"sentinel"`
	}
	if err := json.Unmarshal(config, &c); err != nil {
		return nil, fmt.Errorf("test.errors: %w", err)
	}
	s := wire.Sentinels()
	if c.Sentinel < 0 || c.Sentinel >= len(s) {
		return nil, fmt.Errorf("test.errors: sentinel %d out of range", c.Sentinel)
	}
	return nil, fmt.Errorf("test.errors: open: %w: the cause", s[c.Sentinel])
}

// serveV1 stands for a plugin built with an SDK of protocol version 1: it
// offers that version only (it never gets as far as serving anything).
func serveV1() {
	hs := wire.Handshake
	hs.ProtocolVersion = 1
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  hs,
		VersionedPlugins: map[int]plugin.PluginSet{1: {wire.PluginName: &wire.GRPCPlugin{}}},
		GRPCServer:       plugin.DefaultGRPCServer,
	})
}
