package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/feature"
)

// feature.BuiltIn, the names iotd knows even when a build leaves their
// module out, is what the shims here register: each registered module is
// listed, with the tag of the shim that brings its package in, and each
// listed name is registered by this (full) build.
func TestBuiltinFeatureNames(t *testing.T) {
	files, err := filepath.Glob("builtin_feature_*.go")
	require.NoError(t, err)
	tagRe := regexp.MustCompile(`(?m)^//go:build !(iotd_omit_\w+)$`)
	impRe := regexp.MustCompile(`(?m)^import _ "([^"]+)"$`)
	tagOf := map[string]string{} // feature package → its shim's tag
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		tag, imp := tagRe.FindSubmatch(b), impRe.FindSubmatch(b)
		require.NotNil(t, tag, f)
		require.NotNil(t, imp, f)
		tagOf[string(imp[1])] = string(tag[1])
	}

	var registered []string
	for _, m := range feature.Modules() {
		registered = append(registered, m.Name)
		// The package whose init registered m: where its New is.
		fn := runtime.FuncForPC(reflect.ValueOf(m.New).Pointer()).Name()
		slash := strings.LastIndex(fn, "/")
		pkg, _, _ := strings.Cut(fn[slash+1:], ".")
		pkg = fn[:slash+1] + pkg
		shimTag, ok := tagOf[pkg]
		assert.True(t, ok, "module %s is registered by %s, which no builtin_feature_*.go imports", m.Name, pkg)
		tag, ok := feature.OmitTag(m.Name)
		assert.True(t, ok, "module %s is not in feature's list of built-in names", m.Name)
		assert.Equal(t, shimTag, tag, "module %s: feature.OmitTag and the shim of %s disagree", m.Name, pkg)
	}
	assert.Equal(t, feature.BuiltIn(), registered, "feature.BuiltIn lists exactly the modules cmd/iotd registers")
}

// A binary built without a feature refuses a configuration with its
// section, saying the feature was left out and by which tag, and which line
// to remove; the same file passes the check once the section is gone.
func TestOmittedFeatureSection(t *testing.T) {
	if testing.Short() {
		t.Skip("builds iotd")
	}
	bin := filepath.Join(t.TempDir(), "iotd")
	out, err := exec.Command("go", "build", "-tags", "iotd_omit_shadow", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, string(out))

	dir := t.TempDir()
	info := &core.DeviceInfo{AuthMode: core.AuthKey, ProductID: "POMIT00001", DeviceName: "dev1"}
	info.KeyDeviceInfo.DeviceSecret = "c2VjcmV0IHNlY3JldCE="
	require.NoError(t, core.SaveDeviceInfo(filepath.Join(dir, "device_info.json"), info))
	base := "device_info: device_info.json\nfeatures:\n  timesync:\n    interval: 30s\n"
	cfg := filepath.Join(dir, "iotd.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(base+"  shadow:\n    enabled: true\n"), 0o600))

	cmd := exec.Command(bin, "run", "--check", "--config", cfg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "want a non-zero exit, got %v; %s", err, stderr.String())
	assert.Contains(t, stderr.String(), cfg+`: line 5: feature "shadow" is not in this build (it was left out with -tags iotd_omit_shadow); remove the section or use a build with it`)

	require.NoError(t, os.WriteFile(cfg, []byte(base), 0o600))
	out, err = exec.Command(bin, "run", "--check", "--config", cfg).CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Regexp(t, `(?m)^features +broadcast, gateway, ota, rrpc, timesync; off: logupload \(not enabled in the configuration\), sub_device_ota \(not enabled in the configuration\)$`, string(out),
		"a feature left out of the build is not listed")
}
