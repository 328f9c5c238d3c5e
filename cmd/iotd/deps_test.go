package main

import (
	"go/build"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// goList returns the import paths the packages depend on, transitively.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list"}, args...)...).CombinedOutput()
	require.NoError(t, err, string(out))
	return strings.Fields(string(out))
}

// The driver contract is what vendors import: it must stay standard library
// only, so a vendor's build pulls in nothing of ours and nothing third-party.
// The same holds for its helpers (deadline).
func TestDriverContractIsStdlibOnly(t *testing.T) {
	for _, pkg := range []string{"github.com/iotd/iotd/core/driver", "github.com/iotd/iotd/core/driver/deadline"} {
		deps := goList(t, "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg)
		assert.Equal(t, []string{pkg}, deps)
	}
}

// What iotd knows of the real hub (regions, bundled CAs) is plain data any
// program may reuse: standard library only.
func TestHubFactsAreStdlibOnly(t *testing.T) {
	deps := goList(t, "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "github.com/iotd/iotd/core/hub")
	assert.Equal(t, []string{"github.com/iotd/iotd/core/hub"}, deps)
}

// The websocket driver can be left out of a build. (gorilla/websocket
// stays: paho imports it for its own WebSocket support.)
func TestOmitWebSocketDropsTheDriver(t *testing.T) {
	deps := goList(t, "-tags", "iotd_omit_websocket", "-deps", "github.com/iotd/iotd/cmd/iotd")
	assert.NotContains(t, deps, "github.com/iotd/iotd/drivers/websocket")
	assert.Contains(t, goList(t, "-deps", "github.com/iotd/iotd/cmd/iotd"), "github.com/iotd/iotd/drivers/websocket")
}

// Leaving the dtls driver out of a build must leave pion out too, so a
// small build does not pay for what it does not use.
func TestOmitDTLSDropsPion(t *testing.T) {
	deps := goList(t, "-tags", "iotd_omit_dtls", "-deps", "github.com/iotd/iotd/cmd/iotd")
	for _, d := range deps {
		assert.False(t, strings.HasPrefix(d, "github.com/pion/"), "iotd_omit_dtls build still links %s", d)
	}
}

// Every package has a doc comment that says what it is for.
func TestEveryPackageHasADocComment(t *testing.T) {
	dirs := goList(t, "-f", "{{.Dir}}", "github.com/iotd/iotd/...")
	for _, dir := range dirs {
		pkg, err := build.ImportDir(dir, build.ImportComment)
		if err != nil {
			continue
		}
		assert.NotEmpty(t, strings.TrimSpace(pkg.Doc), "package in %s has no doc comment", dir)
	}
}

// The binary links the conformance suite ("iotd conformance") but no code
// of ours imports package testing, and nothing links testify or the go
// test front end (conformance/conformancetest). hashicorp/go-plugin itself
// imports testing (its test helpers live in the main package), so only a
// build without the plugin host is free of it entirely.
func TestBinaryLinksNoTestingPackages(t *testing.T) {
	lines := goList(t, "-deps", "-f", "{{.ImportPath}}:{{range .Imports}} {{.}}{{end}}", "github.com/iotd/iotd/cmd/iotd")
	var deps []string
	importers := map[string][]string{}
	pkg := ""
	for _, f := range lines {
		if strings.HasSuffix(f, ":") {
			pkg = strings.TrimSuffix(f, ":")
			deps = append(deps, pkg)
			continue
		}
		importers[f] = append(importers[f], pkg)
	}
	assert.Contains(t, deps, "github.com/iotd/iotd/conformance", "iotd conformance is built in")
	for _, d := range deps {
		assert.False(t, strings.HasPrefix(d, "github.com/stretchr/testify"), "the iotd binary links %s", d)
		assert.NotEqual(t, "github.com/iotd/iotd/conformance/conformancetest", d)
	}
	for _, imp := range importers["testing"] {
		assert.False(t, strings.HasPrefix(imp, "github.com/iotd/iotd/"), "%s imports testing and is linked into iotd", imp)
	}
	for _, d := range goList(t, "-tags", "iotd_omit_plugins", "-deps", "github.com/iotd/iotd/cmd/iotd") {
		assert.NotEqual(t, "testing", d, "a build without the plugin host links package testing")
	}
}
