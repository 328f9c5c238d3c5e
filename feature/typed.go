package feature

import (
	"context"
	"encoding/json"

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
	// applied from now on, closed when ctx ends. A watcher that falls
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
