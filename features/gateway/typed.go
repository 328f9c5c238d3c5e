package gateway

import (
	"context"

	"github.com/iotd/iotd/feature"
	"github.com/iotd/iotd/localapi"
)

// GatewayAPI returns the gateway as package device offers it
// (feature.GatewayProvider).
func (g *Gateway) GatewayAPI() feature.GatewayAPI { return goAPI{g} }

var _ feature.GatewayProvider = (*Gateway)(nil)

// goAPI is a Gateway as a feature.GatewayAPI: localapi's wire types.
type goAPI struct{ g *Gateway }

func (a goAPI) Bind(ctx context.Context, subs ...localapi.DeviceRef) ([]localapi.GatewayResult, error) {
	return results(a.g.Bind(ctx, refs(subs)...))
}

func (a goAPI) Unbind(ctx context.Context, subs ...localapi.DeviceRef) ([]localapi.GatewayResult, error) {
	return results(a.g.Unbind(ctx, refs(subs)...))
}

func (a goAPI) Online(ctx context.Context, subs ...localapi.DeviceRef) ([]localapi.GatewayResult, error) {
	return results(a.g.Online(ctx, refs(subs)...))
}

func (a goAPI) Offline(ctx context.Context, subs ...localapi.DeviceRef) ([]localapi.GatewayResult, error) {
	return results(a.g.Offline(ctx, refs(subs)...))
}

func (a goAPI) SubDevices() []localapi.SubDevice {
	subs := a.g.List()
	out := make([]localapi.SubDevice, len(subs))
	for i, s := range subs {
		out[i] = subDeviceToWire(s)
	}
	return out
}

func (a goAPI) Describe(ctx context.Context) ([]localapi.DeviceRef, error) {
	rs, err := a.g.Describe(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]localapi.DeviceRef, len(rs))
	for i, r := range rs {
		out[i] = refToWire(r)
	}
	return out, nil
}

func (a goAPI) AddSubDevice(s localapi.SubDeviceConfig) error {
	return a.g.AddSubDevice(SubDeviceConfig{ProductID: s.ProductID, DeviceName: s.DeviceName, DeviceSecret: s.DeviceSecret, CertFile: s.CertFile})
}

func refs(subs []localapi.DeviceRef) []Ref {
	out := make([]Ref, len(subs))
	for i, s := range subs {
		out[i] = Ref{ProductID: s.ProductID, DeviceName: s.DeviceName}
	}
	return out
}

// results is an operation's outcome on the wire; the error also says when
// any sub-device failed.
func results(rs Results, err error) ([]localapi.GatewayResult, error) {
	if err != nil {
		return resultsToWire(rs), err
	}
	return resultsToWire(rs), rs.Err()
}
