package sdk

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/plugins/internal/wire"
)

// Version is the version of this SDK, sent to the host in Describe. 2.x
// speaks protocol version 2, which iotd hosts of this version require.
const Version = "2.0.0"

// Capabilities are what a driver's connections offer beyond net.Conn, for
// capabilities the driver value itself does not implement (a Conn's
// MaxPayload, say). The host advertises them in `iotd drivers` and the
// conformance certificate; each connection still reports what its own Conn
// implements.
type Capabilities struct {
	// MaxPayload is the largest payload one Write carries; 0: not declared.
	MaxPayload int
	// Signal: the driver's Conns implement driver.SignalReporter.
	Signal bool
	// Sleeper: the driver's Conns implement driver.Sleeper.
	Sleeper bool
}

// Declare returns d with capabilities c declared. Pass the result to
// [Serve] in place of d.
func Declare(d driver.Driver, c Capabilities) driver.Driver {
	return &declared{Driver: d, caps: c}
}

type declared struct {
	driver.Driver
	caps Capabilities
}

// Unwrap lets driver.Lookup reach the driver's own capabilities.
func (d *declared) Unwrap() any { return d.Driver }

// Serve serves drivers to the iotd host that started this process, and
// returns only when the host ends the plugin (the process then exits). It
// is the whole of a plugin binary's main. Driver names must be unique.
func Serve(drivers ...driver.Driver) {
	slog.SetDefault(slog.New(newLogHandler(os.Stderr, slog.LevelDebug)))
	stop := watchParent(context.Background(), os.Getppid(), time.Second)
	defer stop()
	srv, err := newServer(drivers)
	if err != nil {
		slog.Error("sdk: cannot serve", "err", err)
		os.Exit(2)
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  wire.Handshake,
		VersionedPlugins: wire.Plugins(srv),
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			opts = append(opts, grpc.MaxRecvMsgSize(wire.MaxMessage), grpc.MaxSendMsgSize(wire.MaxMessage))
			return grpc.NewServer(opts...)
		},
	})
	srv.closeAll()
}
