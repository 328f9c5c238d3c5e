package feature

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/iotd/iotd/localapi"
)

// The typed Go APIs of features a program reaches through package device
// (device.Device.Shadow, device.Device.Gateway) without importing the
// feature's package: the feature's built value implements the provider
// interface, and the values are localapi's wire types.

// ShadowAPI is the device's own shadow. Its methods are safe for
// concurrent use; those that reach the hub need the device running.
type ShadowAPI interface {
	// Get reads the document from the hub; its Version is the hub's
	// document version.
	Get(ctx context.Context) (localapi.ShadowDocument, error)
	// Document returns the last known document without a round trip.
	Document() localapi.ShadowDocument
	// Report merges values into the reported state and returns the
	// document after the update.
	Report(ctx context.Context, values map[string]json.RawMessage) (localapi.ShadowDocument, error)
	// ReportAndClearDesired reports values and removes their keys from
	// desired: "I have applied these".
	ReportAndClearDesired(ctx context.Context, values map[string]json.RawMessage) (localapi.ShadowDocument, error)
	// ClearDesired removes the whole desired state.
	ClearDesired(ctx context.Context) (localapi.ShadowDocument, error)
	// Watch returns a channel of every desired-state change (delta)
	// applied from now on, closed when ctx ends. A desired value set
	// while the device was offline may have been applied before Watch was
	// called: call Watch, then Get, and apply the document's desired state
	// too (examples/shadow does). A watcher that falls
	// behind by more than a few deltas loses some (counted in the status's
	// shadow.watch_dropped). The application applies what it wants and
	// says so with ReportAndClearDesired.
	Watch(ctx context.Context) <-chan localapi.ShadowDelta
}

// GatewayAPI is the device's gateway: its sub-devices. Its methods are
// safe for concurrent use; those that reach the hub need the device
// running. An operation's error is non-nil when the request failed as a
// whole or when any sub-device's operation failed; the results, in request
// order, say which (Code 0 is success, -1 no answer).
type GatewayAPI interface {
	// Bind binds sub-devices to this gateway, signing with their
	// configured secret or certificate; with none, every known sub-device
	// that has credentials.
	Bind(ctx context.Context, subs ...localapi.DeviceRef) ([]localapi.GatewayResult, error)
	// Unbind unbinds sub-devices; at least one must be named.
	Unbind(ctx context.Context, subs ...localapi.DeviceRef) ([]localapi.GatewayResult, error)
	// Online brings sub-devices online; with none, every known one.
	Online(ctx context.Context, subs ...localapi.DeviceRef) ([]localapi.GatewayResult, error)
	// Offline takes sub-devices offline; with none, every known one.
	Offline(ctx context.Context, subs ...localapi.DeviceRef) ([]localapi.GatewayResult, error)
	// SubDevices returns the known sub-devices and their states, without a
	// round trip.
	SubDevices() []localapi.SubDevice
	// Describe asks the hub which sub-devices are bound to this gateway.
	Describe(ctx context.Context) ([]localapi.DeviceRef, error)
	// AddSubDevice configures a sub-device at run time (credentials are
	// needed only to bind it).
	AddSubDevice(sub localapi.SubDeviceConfig) error
}

// OTAAPI is the device's own firmware updates. iotd downloads what the
// cloud pushes, resumes interrupted downloads and checks the MD5; the
// program decides how a verified image is installed ([Installer]) and may
// report an install it runs itself, the C SDK's IOT_OTA_ReportUpgradeBegin,
// IOT_OTA_ReportUpgradeSuccess and IOT_OTA_ReportUpgradeFail. Its methods
// are safe for concurrent use; a report made before the device runs waits
// for it to start, bounded by ctx.
type OTAAPI interface {
	// Status returns the current version and the state of an update.
	Status() localapi.OTAStatus
	// SetInstaller makes fn install every verified image, in place of
	// features.ota.hook; nil restores the hook. Set it before Run: an
	// image downloaded before is installed the configured way.
	SetInstaller(fn Installer)
	// Begin reports that the device starts installing version (the
	// "burning" report), for an install the program runs itself. It fails
	// while iotd downloads or installs an update.
	Begin(ctx context.Context, version string) error
	// Succeed reports version installed: it becomes the current version
	// (written to the version file), and the hub is told "done" and the new
	// version. It is also the confirmation of an install waiting for its
	// reboot ([ErrRebootPending]); "" means the version of that install.
	Succeed(ctx context.Context, version string) error
	// Fail reports that installing version failed with a negative result
	// code (0 means -5, "install failed") and a message for the console;
	// the current version stays. "" means the version of the update in
	// progress or waiting for its reboot, which is abandoned.
	Fail(ctx context.Context, version string, code int, msg string) error
}

// Installer installs a verified firmware image. It returns nil when the
// image is installed and running, [ErrRebootPending] (possibly wrapped)
// when it takes effect after a reboot, and any other error when the
// install failed (reported with result code -5; the current version
// stays). ctx ends when the device stops: an installer that cannot stop
// half-way should finish anyway and return.
type Installer func(ctx context.Context, img FirmwareImage) error

// FirmwareImage is a downloaded firmware file whose MD5 matched.
type FirmwareImage struct {
	// File is the image's path; the installer may move or remove it.
	File    string
	Version string
	MD5     string
	Size    int64
}

// ErrRebootPending, returned by an [Installer] (or exit status 3 of the
// install hook), says the image is installed but runs only after a reboot,
// as on an A/B system. The update then waits for its confirmation: it is
// done when iotd next starts and the version file (or features.ota.version)
// shows the new version, or when the program calls [OTAAPI.Succeed]; it
// fails when neither happened within features.ota.confirm_timeout of that
// start (the board rolled back), or when the program calls [OTAAPI.Fail].
var ErrRebootPending = errors.New("installed: takes effect after a reboot")

// ShadowProvider is a built feature that offers the device's shadow (the
// shadow module's).
type ShadowProvider interface {
	ShadowAPI() ShadowAPI
}

// GatewayProvider is a built feature that offers the gateway (the gateway
// module's).
type GatewayProvider interface {
	GatewayAPI() GatewayAPI
}

// OTAProvider is a built feature that offers the device's firmware updates
// (the ota module's). OTAAPI returns nil when the channel's module installs
// firmware itself (at-tencent).
type OTAProvider interface {
	OTAAPI() OTAAPI
}
