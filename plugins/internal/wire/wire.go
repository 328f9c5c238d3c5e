package wire

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pb "github.com/iotd/iotd/plugins/proto"
)

// Handshake is the go-plugin handshake of iotd driver plugins. The cookie
// only keeps a plugin binary from being mistaken for something else (and
// from being run by hand); it is not a secret. ProtocolVersion is the
// default; VersionedPlugins decides.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  Protocol,
	MagicCookieKey:   "IOTD_DRIVER_PLUGIN",
	MagicCookieValue: "5c1e0b7a-iotd-driver-plugin-d41f",
}

// Protocol is the version of the protocol in plugins/proto that both ends
// speak: 2, where each connection's data has a channel of its own (version
// 1, which carried it on the connection's gRPC stream, is no longer
// served). A later version is added as another key of VersionedPlugins on
// both sides; go-plugin picks the highest version both list, and refuses a
// plugin that lists none of the host's.
const Protocol = 2

// PluginName is the name the driver service is dispensed under.
const PluginName = "driver"

// Limits of the data channels.
const (
	// StreamFrame is the plugin's copy buffer for each direction of a
	// stream, and the size of the frame payloads the reader recycles.
	StreamFrame = 64 << 10
	// WriteWindow is the write window a plugin grants a fast driver: how
	// much stream data the host sends ahead of what the plugin's Conn has
	// taken (the host's send buffer on the raw channel, which the kernel
	// may round). A driver whose conns report a MaxPayload gets less (see
	// StreamWindow).
	WriteWindow = 256 << 10
	// MinWindow is the smallest write window granted; a kernel raises a
	// smaller socket buffer to its own minimum anyway (Linux: 4608 bytes of
	// send buffer, twice the 2304 set).
	MinWindow = 2 << 10
	// ReadWindow is how much the plugin reads ahead of what the host has
	// consumed: its send buffer on a stream's raw channel, the read credit
	// of a datagram conn.
	ReadWindow = 512 << 10
	// MaxWindow caps the windows an end sets as its socket buffer.
	MaxWindow = 4 << 20
	// MaxDatagram is the largest datagram the protocol carries.
	MaxDatagram = 1 << 20
	// MaxMessage is the gRPC message limit both ends set (above gRPC's
	// default of 4 MB so that no frame can hit it).
	MaxMessage = 8 << 20
	// ReadBuffer is the plugin's read buffer for datagram conns.
	ReadBuffer = 64 << 10
)

// StreamWindow is the write window a plugin grants a stream conn whose
// driver sends at most maxPayload bytes in one operation (a modem's send
// limit; 0 when it reports none): two sends' worth, so that a write
// deadline on the host expires about when it would on the driver itself,
// not after hundreds of KB queued behind a 115200-baud modem. A driver
// with no such limit gets WriteWindow.
func StreamWindow(maxPayload int64) int64 {
	if maxPayload <= 0 {
		return WriteWindow
	}
	return min(max(2*maxPayload, MinWindow), WriteWindow)
}

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
		Protocol: {PluginName: &GRPCPlugin{Impl: server}},
	}
}
