package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every package under drivers/ that registers a driver in init is brought
// in by a builtin_<name>.go shim here — imported by it, or by what it
// imports (drivers/at/builtin brings the AT modem package and its
// dialects) — and the shim's build tag names it, so `-tags
// iotd_omit_<name>` leaves that package out.
func TestEveryRegisteringPackageHasABuiltinShim(t *testing.T) {
	shims := map[string]string{} // import path → build tag
	files, err := filepath.Glob("builtin_*.go")
	require.NoError(t, err)
	tagRe := regexp.MustCompile(`(?m)^//go:build !iotd_omit_(\w+)$`)
	impRe := regexp.MustCompile(`(?m)^import _ "([^"]+)"$`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		tag, imp := tagRe.FindSubmatch(b), impRe.FindSubmatch(b)
		require.NotNil(t, tag, "%s: no iotd_omit build tag", f)
		require.NotNil(t, imp, "%s: no blank import", f)
		// builtin_<driver>.go, builtin_feature_<feature>.go: the tag is the name.
		want := strings.TrimPrefix(strings.TrimSuffix(strings.TrimPrefix(f, "builtin_"), ".go"), "feature_")
		assert.Equal(t, want, string(tag[1]), "%s: tag does not match the file name", f)
		shims[string(imp[1])] = string(tag[1])
	}

	// What each shim brings in, with the packages it imports.
	brought := map[string]bool{}
	for imp := range shims {
		for _, dep := range goList(t, "-deps", imp) {
			brought[dep] = true
		}
	}

	root := filepath.Join("..", "..")
	for dir, call := range map[string]string{"drivers": "core.MustRegister(", "features": "feature.Register("} {
		checkRegistering(t, root, dir, call, brought)
	}
}

// checkRegistering asserts that every package under dir whose code calls
// call (registers a driver or a feature) is brought in by a shim.
func checkRegistering(t *testing.T, root, dir, call string, brought map[string]bool) {
	t.Helper()
	err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), call) {
			rel, _ := filepath.Rel(root, filepath.Dir(p))
			imp := "github.com/iotd/iotd/" + filepath.ToSlash(rel)
			assert.True(t, brought[imp], "%s registers (%s) but no builtin shim of cmd/iotd brings it in", imp, call)
		}
		return nil
	})
	require.NoError(t, err)
}
