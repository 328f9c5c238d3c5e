package device

import "github.com/iotd/iotd/feature"

// FeatureNamed is Device.feature, for tests of a feature the test binary
// does not link.
func FeatureNamed(d *Device, name string) (feature.Feature, error) { return d.feature(name) }
