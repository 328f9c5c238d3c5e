package wire

import (
	"context"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pb "github.com/iotd/iotd/plugins/proto"
)

// Handshake is the go-plugin handshake of iotd driver plugins. The cookie
// only keeps a plugin binary from being mistaken for something else (and
// from being run by hand); it is not a secret. ProtocolVersion is the
// default; VersionedPlugins decides.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolV2,
	MagicCookieKey:   "IOTD_DRIVER_PLUGIN",
	MagicCookieValue: "5c1e0b7a-iotd-driver-plugin-d41f",
}

// ProtocolV2 is the version of the protocol in plugins/proto: version 1
// acknowledged every stream write, version 2 windows them (WriteCredit).
// The two are incompatible, so both sides list version 2 only and a plugin
// built with an SDK of version 1 fails the handshake (rebuild it against
// this SDK). A later version is added as another key of VersionedPlugins on
// both sides; go-plugin picks the highest version both list.
const ProtocolV2 = 2

// PluginName is the name the driver service is dispensed under.
const PluginName = "driver"

// Limits of the Conn stream.
const (
	// Chunk is the largest piece of stream data in one frame. It leaves
	// room for the frame's own bytes within 32 KiB: gRPC takes message
	// buffers from power-of-two pools (…, 32 KiB, 1 MiB) and clears the
	// whole buffer it hands out, so a frame just above 32 KiB would cost a
	// 1 MiB clear each way (measured: a third of the CPU of a transfer).
	Chunk = 32<<10 - 64
	// WriteWindow is the write credit: how much written data (payload
	// bytes, plus one per windowed datagram) the host may have sent that
	// the plugin's driver has not yet taken. A Write returns once its bytes
	// are within the window, as a kernel socket's returns once they are in
	// its send buffer.
	WriteWindow = 512 << 10
	// ReadWindow is the read credit: how much data the plugin may send
	// ahead of what the host has consumed.
	ReadWindow = 512 << 10
	// MaxDatagram is the largest datagram the protocol carries.
	MaxDatagram = 1 << 20
	// MaxMessage is the gRPC message limit both ends set (above gRPC's
	// default of 4 MB so that no frame can hit it).
	MaxMessage = 8 << 20
	// ReadBuffer is the plugin's read buffer for datagram conns.
	ReadBuffer = 64 << 10
	// CloseStall bounds how long the host's Close waits for progress
	// while the plugin writes the data queued before the Close: a peer
	// that reads nothing cannot hold a Close for longer, while a slow but
	// moving link (a modem) gets all its data out. CloseWait bounds the
	// driver's own Close after that.
	CloseStall = 3 * time.Second
	CloseWait  = 5 * time.Second
	// DrainPiece is the most the plugin writes in one driver Write while
	// it drains the queue on Close, so that even a slow link reports
	// progress well within CloseStall.
	DrainPiece = 1 << 10
)

// GRPCPlugin is the go-plugin glue: Impl is set in the plugin process;
// the host leaves it nil and gets a pb.PluginClient from Dispense.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl pb.PluginServer
}

// GRPCServer registers the driver service.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterPluginServer(s, p.Impl)
	return nil
}

// GRPCClient returns a pb.PluginClient.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, cc *grpc.ClientConn) (any, error) {
	return pb.NewPluginClient(cc), nil
}

// Plugins returns the versioned plugin sets; server is nil on the host.
func Plugins(server pb.PluginServer) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		ProtocolV2: {PluginName: &GRPCPlugin{Impl: server}},
	}
}
