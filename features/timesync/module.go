package timesync

import "github.com/iotd/iotd/feature"

// The timesync module: features.timesync; it corrects the daemon's clock
// (feature.Env.Clock), which the status reports.
func init() {
	feature.Register(feature.Module{
		Name:   "timesync",
		Config: func() feature.Section { return &Config{} },
		Needs:  feature.Needs{Downlink: true},
		New: func(sec feature.Section, env *feature.Env) (feature.Feature, error) {
			return New(*sec.(*Config), env.Bus, env.Clock, env.Device.ProductID, env.Device.DeviceName, env.Log)
		},
	})
}
