package main

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const mod = "github.com/iotd/iotd"

// importGraph is what `go list` says every package of the module and every
// package they link imports: path → direct imports. Test files are not
// part of it: a test may reach across layers, a build may not.
type importGraph map[string][]string

func loadImportGraph(t *testing.T) importGraph {
	t.Helper()
	lines := goList(t, "-deps", "-f", "{{.ImportPath}}:{{range .Imports}} {{.}}{{end}}", mod+"/...")
	g := importGraph{}
	pkg := ""
	for _, f := range lines {
		if p, ok := strings.CutSuffix(f, ":"); ok {
			pkg = p
			g[pkg] = nil
			continue
		}
		g[pkg] = append(g[pkg], f)
	}
	return g
}

// under lists the module's packages at prefix or below it.
func (g importGraph) under(prefix string) []string {
	var out []string
	for p := range g {
		if within(p, prefix) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// chain returns the import chain from pkg to the first package it links
// that bad says is banned (pkg itself excluded), or nil. The chain is the
// shortest, so a failure names the import to cut.
func (g importGraph) chain(pkg string, bad func(dep string) bool) []string {
	prev := map[string]string{pkg: ""}
	queue := []string{pkg}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, imp := range g[p] {
			if _, seen := prev[imp]; seen {
				continue
			}
			prev[imp] = p
			if bad(imp) {
				var c []string
				for q := imp; q != ""; q = prev[q] {
					c = append(c, q)
				}
				slices.Reverse(c)
				return c
			}
			queue = append(queue, imp)
		}
	}
	return nil
}

// without returns g less pkg's direct imports in skip: what pkg links
// apart from its listed exceptions (which may still be reached another way).
func (g importGraph) without(pkg string, skip map[string]string) importGraph {
	if len(skip) == 0 {
		return g
	}
	h := maps.Clone(g)
	h[pkg] = slices.DeleteFunc(slices.Clone(g[pkg]), func(imp string) bool { _, ok := skip[imp]; return ok })
	return h
}

// within reports whether path is prefix or a package below it.
func within(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

// banned is a rule's list of forbidden packages (each with what is below it).
func banned(prefixes ...string) func(string) bool {
	return func(dep string) bool {
		return slices.ContainsFunc(prefixes, func(p string) bool { return within(dep, p) })
	}
}

// The imports a layer rule would refuse that one package genuinely needs,
// each with the reason: package → direct import → why. A new entry needs a
// reason that would convince a reviewer (features talk over the bus, not by
// importing each other); TestLayeringExceptionsAreUsed drops stale ones.
var layeringExceptions = map[string]map[string]string{
	// Features that build on another feature package.
	mod + "/features/broadcast": {mod + "/features/hook": "hook is the command runner broadcast, rrpc and ota share; it has no Run and no bus"},
	mod + "/features/rrpc":      {mod + "/features/hook": "the shared command runner"},
	mod + "/features/ota":       {mod + "/features/hook": "the shared command runner (the install hook)"},
	// Under drivers/ but not a driver.
	mod + "/drivers/at/atsim": {"github.com/eclipse/paho.mqtt.golang": "the virtual modem's Tencent personality is the module's own MQTT client"},
}

// The layers, as README "Architecture" draws them, checked over every
// package of each layer (found by go list, so a new package is covered the
// day it lands):
//
//   - core and its sub-packages link no bus and no watermill: a Link reports
//     its states through a callback, and the daemon hands it the bus's.
//   - every package under drivers/ links no bus, no watermill, no paho, no
//     feature, no daemon or CLI: a driver is a transport.
//   - every package under features/ links no daemon or CLI, no driver (only
//     core/driver, the contract), no paho (the uplink speaks MQTT), and no
//     other feature.
//   - every package under bus/ links no feature and no daemon or CLI; bus
//     itself links no driver and nothing of core but core/linkstate, the
//     states it carries (importing core would add 76 packages: net/http, crypto/tls,
//     YAML, internal/pki).
func TestLayering(t *testing.T) {
	g := loadImportGraph(t)
	watermill := "github.com/ThreeDotsLabs/watermill"
	paho := "github.com/eclipse/paho.mqtt.golang"
	top := []string{mod + "/daemon", mod + "/iotdcli", mod + "/cmd"}

	type rule struct {
		pkgs []string
		bad  func(pkg, dep string) bool
		why  string
	}
	ban := func(prefixes ...string) func(string, string) bool {
		b := banned(prefixes...)
		return func(_, dep string) bool { return b(dep) }
	}
	rules := []rule{
		{g.under(mod + "/core"), ban(mod+"/bus", watermill, mod+"/features", mod+"/drivers", paho), "core is below the bus"},
		{g.under(mod + "/drivers"), ban(append([]string{mod + "/bus", watermill, paho, mod + "/features", mod + "/plugins"}, top...)...), "a driver is a transport"},
		{g.under(mod + "/features"), func(pkg, dep string) bool {
			if within(dep, mod+"/features") && !within(dep, pkg) {
				return true
			}
			return banned(append([]string{mod + "/drivers", mod + "/plugins", paho}, top...)...)(dep)
		}, "a feature talks to the cloud and to other features over the bus"},
		{g.under(mod + "/bus"), ban(append([]string{mod + "/features"}, top...)...), "the bus and the uplinks serve features, they do not know them"},
		{[]string{mod + "/bus"}, func(_, dep string) bool {
			return dep != mod+"/core/linkstate" && banned(mod+"/core", mod+"/drivers", mod+"/plugins")(dep)
		}, "bus stays light: of core it links core/linkstate only, so a feature links no driver registry, YAML or PKI"},
	}
	for _, r := range rules {
		require.NotEmpty(t, r.pkgs, r.why)
		for _, pkg := range r.pkgs {
			g := g.without(pkg, layeringExceptions[pkg])
			if c := g.chain(pkg, func(dep string) bool { return r.bad(pkg, dep) }); c != nil {
				t.Errorf("%s links %s (%s): %s", pkg, c[len(c)-1], r.why, strings.Join(c, " → "))
			}
		}
	}
}

// The daemon and the device it is built on link no feature: features
// register themselves with package feature, and only cmd/iotd's
// builtin_feature_*.go shims (and tests) import them. (Dynamic
// registration, which the daemon runs before the link, is core/dynreg:
// identity provisioning, not a feature.) The device links neither the
// daemon nor the command line: a Go program embeds it alone.
func TestDaemonLinksNoFeature(t *testing.T) {
	g := loadImportGraph(t)
	for _, pkg := range []string{mod + "/daemon", mod + "/device", mod + "/feature"} {
		c := g.chain(pkg, banned(mod+"/features"))
		assert.Nil(t, c, "%s links a feature package: %s", pkg, strings.Join(c, " → "))
	}
	c := g.chain(mod+"/device", banned(mod+"/daemon", mod+"/iotdcli"))
	assert.Nil(t, c, "device links the daemon: %s", strings.Join(c, " → "))
}

// The link states are a vocabulary both core and bus import: standard
// library only, like the driver contract.
func TestLinkStateIsStdlibOnly(t *testing.T) {
	deps := goList(t, "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", mod+"/core/linkstate")
	assert.Equal(t, []string{mod + "/core/linkstate"}, deps)
}

// Every exception in layeringExceptions is still needed: a stale one would
// quietly allow an import nobody reviewed.
func TestLayeringExceptionsAreUsed(t *testing.T) {
	g := loadImportGraph(t)
	for pkg, deps := range layeringExceptions {
		for dep, why := range deps {
			assert.NotEmpty(t, why)
			assert.Contains(t, g[pkg], dep, "%s no longer imports %s; drop it from layeringExceptions", pkg, dep)
		}
	}
}
