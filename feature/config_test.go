package feature

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecodeConfigOnePass(t *testing.T) {
	var b testBase
	secs, err := DecodeConfig([]byte(`device_info: dev.json
log:
  level: debug
features:
  alpha:
    interval: 30s
    count: 3
    hook:
      command: [/bin/true]
  beta:
    enabled: true
    url: http://x/log
`), &b, testMods())
	require.NoError(t, err)
	assert.Equal(t, "dev.json", b.DeviceInfo)
	assert.Equal(t, "debug", b.Log.Level)
	require.Len(t, secs, 3)
	a := secs["alpha"].(*onSection)
	assert.Equal(t, 30*time.Second, a.Interval)
	assert.Equal(t, 3, a.Count)
	assert.Equal(t, []string{"/bin/true"}, a.Hook.Command)
	assert.True(t, a.Enabled())
	assert.Equal(t, &offSection{On: true, URL: "http://x/log"}, secs["beta"])
	// gamma is not in the file: its empty section, on by default.
	assert.Equal(t, &onSection{}, secs["gamma"])
}

// What base held before decoding survives where the file says nothing
// (the daemon sets dir and file first).
func TestDecodeConfigKeepsBase(t *testing.T) {
	b := testBase{DeviceInfo: "preset.json"}
	_, err := DecodeConfig([]byte("log: {level: warn}\n"), &b, testMods())
	require.NoError(t, err)
	assert.Equal(t, "preset.json", b.DeviceInfo)
	assert.Equal(t, "warn", b.Log.Level)
}

func TestDecodeConfigErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"unknown top-level key", "device_info: x\nbogus: 1\n", `line 2: unknown key "bogus"`},
		{"unknown key in the daemon's section", "log:\n  level: info\n  lvl: x\n", `line 3: unknown key "lvl"`},
		{"unknown key in a feature section", "features:\n  alpha:\n    count: 1\n    x: 2\n", `line 4: unknown key "x"`},
		{"unknown key deep in a feature section", "features:\n  alpha:\n    hook:\n      cmd: [a]\n", `line 4: unknown key "cmd"`},
		{"unknown feature", "features:\n  nosuch:\n    enabled: true\n", `line 2: unknown key "nosuch"`},
		{"two unknown keys, both named", "bogus: 1\nfeatures:\n  beta: {on: true}\n", `line 1: unknown key "bogus"; line 3: unknown key "on"`},
		{"wrong type in a feature section", "features:\n  alpha:\n    count: many\n", "line 3: cannot unmarshal !!str `many` into int"},
		{"wrong type of duration", "features:\n  alpha:\n    interval: soon\n", "line 3: cannot unmarshal !!str `soon` into time.Duration"},
		{"a section that is not a mapping", "features:\n  alpha: 3\n", "line 2: cannot unmarshal !!int `3` into a mapping (features.alpha)"},
		{"features that is not a mapping", "features: [alpha]\n", "line 1: cannot unmarshal !!seq into a mapping"},
		{"a document that is not a mapping", "- 1\n", "line 1: cannot unmarshal !!seq into a mapping"},
		{"the daemon's section with a wrong type", "log: 3\n", "line 1: cannot unmarshal !!int `3` into struct"},
		{"a key twice", "features:\n  alpha: {}\n  alpha: {}\n", `line 3: mapping key "alpha" already defined at line 2`},
		{"syntax", "features:\n  alpha: [\n", "line 2: did not find expected node content"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b testBase
			secs, err := DecodeConfig([]byte(tt.in), &b, testMods())
			require.Error(t, err)
			assert.Nil(t, secs)
			if tt.name == "the daemon's section with a wrong type" {
				// An anonymous struct of the daemon's own: its Go type
				// stays out of the message.
				assert.Equal(t, "line 1: cannot unmarshal !!int `3` into a mapping", err.Error())
				return
			}
			assert.Equal(t, tt.want, err.Error())
			assert.NotContains(t, err.Error(), "yaml:")
			assert.NotContains(t, err.Error(), "feature.")
		})
	}
}

func TestDecodeConfigEmpty(t *testing.T) {
	for name, in := range map[string]string{
		"empty file":        "",
		"only a comment":    "# nothing yet\n",
		"empty features":    "features:\n",
		"empty features {}": "features: {}\n",
		"empty sections":    "features:\n  alpha:\n  beta:\n  gamma: {}\n",
	} {
		t.Run(name, func(t *testing.T) {
			var b testBase
			secs, err := DecodeConfig([]byte(in), &b, testMods())
			require.NoError(t, err)
			assert.Equal(t, testBase{}, b)
			assert.Equal(t, map[string]Section{"alpha": &onSection{}, "beta": &offSection{}, "gamma": &onSection{}}, secs)
		})
	}
}

// Each module gets a section of its own, not one shared between decodes
// or with the module's default.
func TestDecodeConfigFreshSections(t *testing.T) {
	mods := testMods()
	var b testBase
	one, err := DecodeConfig([]byte("features: {alpha: {count: 1}}\n"), &b, mods)
	require.NoError(t, err)
	two, err := DecodeConfig([]byte("features: {alpha: {count: 2}}\n"), &b, mods)
	require.NoError(t, err)
	assert.Equal(t, 1, one["alpha"].(*onSection).Count)
	assert.Equal(t, 2, two["alpha"].(*onSection).Count)
	assert.Equal(t, &onSection{}, mods[0].Config())
}

func TestDecodeConfigBase(t *testing.T) {
	_, err := DecodeConfig(nil, testBase{}, nil)
	assert.EqualError(t, err, "feature: DecodeConfig: base is feature.testBase, not a pointer to a struct")
	s := "x"
	_, err = DecodeConfig(nil, &s, nil)
	assert.Error(t, err)
	// No modules: only the daemon's keys, and features: knows none.
	var b testBase
	secs, err := DecodeConfig([]byte("features:\n  alpha: {}\n"), &b, nil)
	assert.EqualError(t, err, `line 2: unknown key "alpha"`)
	assert.Nil(t, secs)
}

// A section naming a built-in feature this build does not have says so,
// with the tag that left it out; other errors in the file are kept.
func TestDecodeConfigLeftOut(t *testing.T) {
	var b testBase
	_, err := DecodeConfig([]byte("features:\n  alpha: {}\n  shadow:\n    enabled: true\n"), &b, testMods())
	assert.EqualError(t, err, `line 3: feature "shadow" is not in this build (it was left out with -tags iotd_omit_shadow); remove the section or use a build with it`)

	_, err = DecodeConfig([]byte("bogus: 1\nfeatures:\n  sub_device_ota:\n  alpha: {x: 1}\n"), &b, testMods())
	assert.EqualError(t, err, `line 1: unknown key "bogus"; `+
		`line 3: feature "sub_device_ota" is not in this build (it was left out with -tags iotd_omit_ota); remove the section or use a build with it; `+
		`line 4: unknown key "x"`)

	// Through an alias too.
	_, err = DecodeConfig([]byte("x: &f\n  rrpc: {}\nfeatures: *f\n"), &b, testMods())
	assert.ErrorContains(t, err, `line 2: feature "rrpc" is not in this build (it was left out with -tags iotd_omit_rrpc)`)

	// A built-in name outside features: is only an unknown key.
	_, err = DecodeConfig([]byte("shadow: {}\n"), &b, testMods())
	assert.EqualError(t, err, `line 1: unknown key "shadow"`)

	// A module registered under a built-in name decodes its section.
	mods := append(testMods(), testModule("shadow", Needs{}))
	secs, err := DecodeConfig([]byte("features:\n  shadow:\n    count: 4\n"), &b, mods)
	require.NoError(t, err)
	assert.Equal(t, 4, secs["shadow"].(*onSection).Count)
}

func TestBuiltIn(t *testing.T) {
	names := BuiltIn()
	assert.Equal(t, []string{"broadcast", "gateway", "logupload", "ota", "rrpc", "shadow", "sub_device_ota", "timesync"}, names)
	for _, n := range names {
		assert.Regexp(t, validName, n)
		tag, ok := OmitTag(n)
		assert.True(t, ok)
		assert.Regexp(t, `^iotd_omit_[a-z]+$`, tag)
	}
	tag, _ := OmitTag("sub_device_ota")
	assert.Equal(t, "iotd_omit_ota", tag, "sub_device_ota is a module of features/ota")
	_, ok := OmitTag("beacon")
	assert.False(t, ok)
}

func TestDefault(t *testing.T) {
	assert.True(t, testModule("a", Needs{}).Default())
	assert.False(t, offModule("b").Default())
	// Default asks a fresh section: a section switched off does not change it.
	m := testModule("a", Needs{})
	m.Config().Disable()
	assert.True(t, m.Default())
}

// The file turns a feature on or off against its default.
func TestDecodeConfigOnOff(t *testing.T) {
	var b testBase
	secs, err := DecodeConfig([]byte("features:\n  alpha: {enabled: false}\n  beta: {enabled: true, url: u}\n"), &b, testMods())
	require.NoError(t, err)
	assert.False(t, secs["alpha"].Enabled())
	assert.True(t, secs["beta"].Enabled())
	assert.True(t, secs["gamma"].Enabled())
}

func TestValidateSections(t *testing.T) {
	mods := testMods()
	var b testBase
	secs, err := DecodeConfig([]byte("features:\n  alpha: {count: 1}\n"), &b, mods)
	require.NoError(t, err)
	field, err := ValidateSections(mods, secs)
	assert.NoError(t, err)
	assert.Empty(t, field)

	// The first failing section in the order of mods, named as a field.
	secs, err = DecodeConfig([]byte("features:\n  gamma: {count: -1}\n  beta: {enabled: true}\n"), &b, mods)
	require.NoError(t, err)
	field, err = ValidateSections(mods, secs)
	assert.Equal(t, "features.beta", field)
	assert.EqualError(t, err, "url is required")

	// A section missing from secs is skipped.
	delete(secs, "beta")
	field, err = ValidateSections(mods, secs)
	assert.Equal(t, "features.gamma", field)
	assert.EqualError(t, err, "count must not be negative")
}

func TestUnmet(t *testing.T) {
	both := Needs{Downlink: true, HostNetwork: true}
	mods := []Module{testModule("alpha", Needs{Downlink: true}), testModule("delta", both), testModule("gamma", Needs{HostNetwork: true}), testModule("plain", Needs{}), offModule("zeta")}
	fresh := func() map[string]Section {
		secs := map[string]Section{}
		for _, m := range mods {
			secs[m.Name] = m.Config()
		}
		return secs
	}
	tests := []struct {
		name string
		caps Caps
		want map[string][]string
	}{
		{"mqtt offers everything", Caps{Channel: "mqtt", Downlink: true, HostNetwork: true}, map[string][]string{}},
		{"coap has no downlink", Caps{Channel: "coap", HostNetwork: true}, map[string][]string{"downlink": {"alpha", "delta"}}},
		{"at-tencent has no host network", Caps{Channel: "at-tencent", Downlink: true}, map[string][]string{"host network": {"delta", "gamma"}}},
		{"nothing", Caps{}, map[string][]string{"downlink": {"alpha", "delta"}, "host network": {"delta", "gamma"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secs := fresh()
			assert.Equal(t, tt.want, Unmet(mods, secs, tt.caps))
			off := map[string]bool{}
			for _, names := range tt.want {
				for _, n := range names {
					off[n] = true
				}
			}
			for _, m := range mods {
				if m.Name == "zeta" {
					assert.False(t, secs[m.Name].Enabled(), "zeta is off by default")
					continue
				}
				assert.Equal(t, !off[m.Name], secs[m.Name].Enabled(), m.Name)
			}
		})
	}

	// A feature the file turned off, or whose section is missing, is not
	// named: nothing was switched off.
	secs := fresh()
	secs["alpha"].(*onSection).On = new(false)
	delete(secs, "delta")
	assert.Equal(t, map[string][]string{}, Unmet(mods, secs, Caps{Channel: "coap", HostNetwork: true}))
}

func TestYAMLError(t *testing.T) {
	assert.Equal(t, "plain", YAMLError(errors.New("plain")))
	assert.Equal(t, "control characters are not allowed", YAMLError(errors.New("yaml: control characters are not allowed")))
	assert.Equal(t, `line 2: unknown key "x"; line 5: cannot unmarshal !!str `+"`a`"+` into int`,
		YAMLError(errors.New("yaml: unmarshal errors:\n  line 2: field x not found in type daemon.Config\n  line 5: cannot unmarshal !!str `a` into int")))
}
