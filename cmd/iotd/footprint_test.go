package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/localapi"
)

// What keeps iotd small (README "Measured": footprint). Nothing here
// measures a size or a time: each test checks a cause.

// makeTags is the build tags `make build` and `make cross` pass.
const makeTags = "grpcnotrace"

// The binaries `make build` and `make cross` produce are what users run:
// static, paths trimmed, stripped, and built with grpcnotrace (gRPC's
// x/net/trace debug pages register HTML handlers whose html/template
// executor is reachable, which keeps every exported method in the binary).
func TestMakeBuildsWhatUsersRun(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "Makefile"))
	require.NoError(t, err)
	mk := string(b)
	gobuild := regexp.MustCompile(`(?m)^GOBUILD\s*:=\s*(.*)$`).FindStringSubmatch(mk)
	require.NotNil(t, gobuild, "the Makefile defines GOBUILD")
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-tags", "$(LDFLAGS)"} {
		assert.Contains(t, gobuild[1], want)
	}
	assert.Regexp(t, `(?m)^TAGS\s*\?=\s*`+makeTags+`$`, mk)
	assert.Regexp(t, `(?m)^LDFLAGS\s*:=\s*-s -w `, mk)
	for _, line := range strings.Split(mk, "\n") {
		if strings.Contains(line, "build") && strings.Contains(line, "-o ") {
			assert.Contains(t, line, "$(GOBUILD)", "a binary built without GOBUILD: %s", strings.TrimSpace(line))
		}
	}
}

// No package of ours executes a template: text/template and html/template
// call methods by name through reflection, and a program that can do that
// makes the linker keep every exported method of every type it links.
func TestNoPackageOfOursImportsATemplatePackage(t *testing.T) {
	lines := goList(t, "-deps", "-f", "{{.ImportPath}}:{{range .Imports}} {{.}}{{end}}", "github.com/iotd/iotd/cmd/iotd")
	pkg := ""
	for _, f := range lines {
		if strings.HasSuffix(f, ":") {
			pkg = strings.TrimSuffix(f, ":")
			continue
		}
		if strings.HasPrefix(pkg, "github.com/iotd/iotd/") {
			assert.NotContains(t, []string{"text/template", "html/template"}, f, "%s imports %s", pkg, f)
		}
	}
}

// The linker drops the methods nothing calls unless the program can call a
// method by name through reflection (reflect.Value.Method, MethodByName,
// ...): the linker marks what can <ReflectMethod>. Neither the build `make
// build` produces nor a build without the plugin host may have one; the
// message names who reaches the reflective call.
func TestLinkerDropsUncalledMethods(t *testing.T) {
	if testing.Short() {
		t.Skip("links iotd twice")
	}
	for _, tags := range []string{makeTags, "iotd_omit_plugins"} {
		t.Run(tags, func(t *testing.T) {
			cmd := exec.Command("go", "build", "-tags", tags, "-ldflags=-dumpdep", "-o", filepath.Join(t.TempDir(), "iotd"), ".")
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			var deps, errb bytes.Buffer
			cmd.Stderr, cmd.Stdout = &deps, &errb
			require.NoError(t, cmd.Run(), errb.String()+lastLines(deps.String(), 20))
			caller := map[string]string{} // symbol → one symbol that reaches it
			var reflective []string
			for _, line := range strings.Split(deps.String(), "\n") {
				from, to, ok := strings.Cut(line, " -> ")
				if !ok {
					continue
				}
				sym, marks, _ := strings.Cut(from, " <")
				if strings.Contains(marks, "ReflectMethod") && !slices.Contains(reflective, sym) {
					reflective = append(reflective, sym)
				}
				to, _, _ = strings.Cut(to, " <")
				if _, seen := caller[to]; !seen {
					caller[to] = sym
				}
			}
			for _, sym := range reflective {
				chain := []string{sym}
				for c := caller[sym]; c != "" && len(chain) < 12 && !slices.Contains(chain, c); c = caller[c] {
					chain = append(chain, c)
				}
				t.Errorf("%s calls methods by name through reflection, so the linker keeps every exported method; reached through %s",
					sym, strings.Join(chain[1:], " <- "))
			}
		})
	}
}

// An idle daemon without plugins.dir runs nothing of the plugin host: no
// go-plugin, gRPC or yamux goroutine.
func TestIdleDaemonRunsNoPluginHost(t *testing.T) {
	bin := buildIotd(t)
	hub := startHub(t)
	_, err := hub.CreateDevice("PFOOT00001", "dev1", false)
	require.NoError(t, err)
	dir := t.TempDir()
	_, err = hub.WriteDeviceInfo("PFOOT00001", "dev1", dir)
	require.NoError(t, err)
	socket := filepath.Join(dir, "iotd.sock")
	cfg := "device_info: device_info.json\nsocket: " + socket + "\nstate_dir: state\nlink:\n  endpoint: " + hub.TLSAddr() +
		"\n  driver_config:\n    ca_file: " + hub.CAFile() + "\n"
	cfgPath := filepath.Join(dir, "iotd.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o600))

	t.Setenv("GOTRACEBACK", "all") // SIGQUIT then dumps every goroutine's stack
	p := startDaemonProc(t, bin, cfgPath, socket)
	cl := localapi.New(socket)
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		st, err := cl.Status(ctx)
		return err == nil && st.Link.State == localapi.LinkConnected
	}, 20*time.Second, 20*time.Millisecond, "iotd did not connect")

	require.NoError(t, p.cmd.Process.Signal(syscall.SIGQUIT))
	<-p.exited
	dump := p.log.String()
	require.Contains(t, dump, "goroutine ", "no goroutine dump")
	for _, pkg := range []string{"github.com/hashicorp/go-plugin", "google.golang.org/grpc", "github.com/hashicorp/yamux", "github.com/iotd/iotd/plugins"} {
		assert.NotContains(t, dump, pkg+".", "an idle daemon without plugins runs %s", pkg)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
