package gateway

import (
	"github.com/iotd/iotd/feature"
	"github.com/iotd/iotd/localapi"
)

// The gateway module: features.gateway (with device_info.json's
// sub-devices merged in), the /v1/gateway routes (api.go), the "gateway"
// status section, and bus.TopicSubDevices events for the features that
// follow sub-devices (events.go).
func init() {
	feature.Register(feature.Module{
		Name:   "gateway",
		Config: func() feature.Section { return &Config{} },
		Needs:  feature.Needs{Downlink: true},
		New: func(sec feature.Section, env *feature.Env) (feature.Feature, error) {
			cfg := sec.(*Config).WithDeviceInfo(env.Device.SubDevices())
			return New(cfg, env.Bus, env.Device.ProductID, env.Device.DeviceName, env.Clock.Now, env.Log)
		},
	})
}

// Status is the "gateway" section of the daemon's status (feature.Reporter).
func (g *Gateway) Status() any { return localapi.GatewayStats(g.Stats()) }
