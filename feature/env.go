package feature

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/hub"
	"github.com/iotd/iotd/core/linkstate"
)

// Env is what every feature is built over: one per daemon, shared, read
// only. The daemon fills every field.
type Env struct {
	// Bus is how a feature talks to the cloud (bus.Bus.CloudSubscribe,
	// uplink publishes) and to other features (events such as
	// bus.TopicSubDevices).
	Bus *bus.Bus
	// Clock is the device clock, corrected by time sync.
	Clock *core.Clock
	// Device is the identity: ProductID, DeviceName, and a gateway's
	// sub-devices (SubDevices).
	Device *core.DeviceInfo
	// StateDir is the directory where features persist their state.
	StateDir string
	// Log is the daemon's logger; a feature adds "feature", its name.
	Log *slog.Logger
	// Link is the link's state now; its changes are linkstate.State
	// events on bus.TopicLinkState (bus.DecodeLinkState).
	Link func() linkstate.State
	// Caps is what the channel offers.
	Caps Caps
	// Region holds the hub's service endpoints (log upload, registration)
	// for the configured region.
	Region hub.Region
	// Path resolves a path from the configuration file against that
	// file's directory; absolute and empty paths pass unchanged.
	Path func(string) string
	// HTTP returns an HTTP transport whose connections go through the
	// named driver (configured from the drivers section, so over a modem
	// too), verifying servers with tlsConfig (nil: hub.ServiceTLS's
	// default, the system's roots plus the hub services' CAs, loaded at
	// the first https request).
	HTTP func(driver string, tlsConfig *tls.Config) (http.RoundTripper, error)
}

// Caps are what the channel offers features.
type Caps struct {
	// Channel is the channel's name (mqtt, websocket, coap, at-tencent).
	Channel string
	// Downlink: the hub can send messages to the device.
	Downlink bool
	// HostNetwork: the host has a network of its own for HTTP.
	HostNetwork bool
	// Firmware is set when the channel's module downloads firmware
	// itself (at-tencent): OTA then installs what the module fetched.
	Firmware FirmwareModule
}

// FirmwareModule is a module that downloads firmware updates itself and
// reports them to the hub (Tencent's AT firmware), so that the host only
// reads and installs the image.
type FirmwareModule interface {
	// SetVersion has the module report v as the running version, which
	// also makes it listen for the next update.
	SetVersion(v string)
	// Events delivers what the module reports about its downloads until
	// ctx ends, then closes the channel. Call it once.
	Events(ctx context.Context) <-chan FirmwareEvent
	// Read reads the downloaded image out of the module: open gets its
	// info before the first byte and returns where the bytes go, or an
	// error that refuses the image.
	Read(ctx context.Context, open func(FirmwareInfo) (io.Writer, error)) (FirmwareInfo, error)
}

// FirmwareEventKind says what a module reported.
type FirmwareEventKind int

// What a [FirmwareModule] reports.
const (
	// FirmwareDownloading: the module is downloading an update.
	FirmwareDownloading FirmwareEventKind = iota + 1
	// FirmwareDownloaded: the image is in the module, checked; read it.
	FirmwareDownloaded
	// FirmwareFailed: the download failed; the module told the hub.
	FirmwareFailed
)

// FirmwareEvent is a report of a [FirmwareModule].
type FirmwareEvent struct {
	Kind FirmwareEventKind
	// Code and Reason are the module's failure code and what it means.
	Code   int
	Reason string
}

// FirmwareInfo describes the image a module downloaded.
type FirmwareInfo struct {
	Version string
	Size    int
	// MD5 is the image's MD5 as the hub sent it, lowercase hex.
	MD5 string
	// Space is the module's OTA space in bytes; 0 when unknown.
	Space int
}
