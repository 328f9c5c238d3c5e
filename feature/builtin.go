package feature

import (
	"maps"
	"slices"
)

// builtIn is every feature iotd knows: the modules of this repository's
// features/ packages, by name, each with the build tag that leaves it out
// of cmd/iotd (its builtin_feature_<package>.go shim). A binary built
// with a tag registers fewer modules, but still knows the names, so that a
// configuration naming a feature left out is told so rather than that the
// key is unknown. cmd/iotd's TestBuiltinFeatureNames keeps this list and
// the shims in step.
var builtIn = map[string]string{
	"broadcast":      "iotd_omit_broadcast",
	"gateway":        "iotd_omit_gateway",
	"logupload":      "iotd_omit_logupload",
	"ota":            "iotd_omit_ota",
	"rrpc":           "iotd_omit_rrpc",
	"shadow":         "iotd_omit_shadow",
	"sub_device_ota": "iotd_omit_ota", // a second module of features/ota
	"timesync":       "iotd_omit_timesync",
}

// BuiltIn returns the names of the features iotd knows, sorted: the
// modules of its features/ packages, registered or left out of this build.
func BuiltIn() []string { return slices.Sorted(maps.Keys(builtIn)) }

// OmitTag returns the build tag that leaves the built-in feature name out
// of cmd/iotd ("iotd_omit_shadow"); false for a name that is not built in.
func OmitTag(name string) (string, bool) {
	tag, ok := builtIn[name]
	return tag, ok
}
