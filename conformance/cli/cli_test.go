package cli_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/conformance"
	"github.com/iotd/iotd/conformance/cli"
	"github.com/iotd/iotd/conformance/internal/broken"
	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/posix"
)

// registry holds the real tcp and tls drivers and a broken one.
func registry(t *testing.T) (*core.Registry, *broken.Driver) {
	t.Helper()
	reg := core.NewRegistry()
	bad := broken.New(broken.ResetAsEOF)
	t.Cleanup(bad.Close)
	for _, d := range []driver.Driver{posix.NewTCP(), posix.NewTLS(), bad} {
		require.NoError(t, reg.Register(d))
	}
	return reg, bad
}

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, o cli.Options, args ...string) result {
	t.Helper()
	var out, errw bytes.Buffer
	o.Stdout, o.Stderr = &out, &errw
	code := cli.Main(t.Context(), args, o)
	return result{code, out.String(), errw.String()}
}

func TestMainCertifiesAndFails(t *testing.T) {
	reg, bad := registry(t)
	exe := filepath.Join(t.TempDir(), "iotd-fake")
	require.NoError(t, os.WriteFile(exe, []byte("the binary under test"), 0o600))
	want := sha256.Sum256([]byte("the binary under test"))
	tests := []struct {
		name      string
		args      []string
		code      int
		driver    string
		certified bool
		failed    string // a case ID that must fail
	}{
		{"tcp is certified", []string{"--driver", "tcp", "--capabilities", "keepalive, nodelay"}, cli.ExitCertified, "tcp", true, ""},
		{"tls with the suite's CA", []string{"--driver", "tls", "--tls", "--config", `{"ca_file":"{{ca_file}}"}`}, cli.ExitCertified, "tls", true, ""},
		{"broken driver fails S05", []string{"--driver", bad.Name()}, cli.ExitFailed, bad.Name(), false, "S05"},
		{"a selection is no certificate", []string{"--driver", "tcp", "--run", "^S0[12]$"}, cli.ExitCertified, "tcp", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			jsonPath, junitPath := filepath.Join(dir, "cert.json"), filepath.Join(dir, "junit.xml")
			r := run(t, cli.Options{Registry: reg, Executable: exe}, append(tt.args, "--json", jsonPath, "--junit", junitPath)...)
			require.Equal(t, tt.code, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
			assert.Empty(t, r.stderr)
			assert.Regexp(t, `(?m)^S01 ConnectEcho \.\.\. PASS \(\d+ms\)$`, r.stdout, "progress line per case")
			if tt.certified {
				assert.Contains(t, r.stdout, ": CERTIFIED\n")
			} else {
				assert.Contains(t, r.stdout, ": NOT CERTIFIED")
			}

			b, err := os.ReadFile(jsonPath)
			require.NoError(t, err)
			var cert conformance.Report
			require.NoError(t, json.Unmarshal(b, &cert))
			assert.Equal(t, tt.driver, cert.Driver)
			assert.Equal(t, conformance.Version, cert.SuiteVersion)
			assert.Equal(t, hex.EncodeToString(want[:]), cert.BinarySHA256)
			assert.Equal(t, exe, cert.BinaryPath)
			assert.NotEmpty(t, cert.Environment.OS)
			assert.NotEmpty(t, cert.Environment.GoVersion)
			assert.NotEmpty(t, cert.Environment.Host)
			assert.False(t, cert.Started.IsZero())
			assert.Equal(t, len(conformance.Cases()), len(cert.Cases))
			assert.Equal(t, tt.certified, cert.Certified())
			if tt.name == "tcp is certified" {
				assert.Equal(t, []string{"keepalive", "nodelay"}, cert.Capabilities)
			}
			if tt.failed != "" {
				for _, c := range cert.Cases {
					if c.ID == tt.failed {
						assert.Equal(t, conformance.Failed, c.Status)
						assert.NotEmpty(t, c.Failures)
					}
				}
				assert.Contains(t, r.stdout, tt.failed+" PeerResetIsErrReset ... FAIL")
			}

			x, err := os.ReadFile(junitPath)
			require.NoError(t, err)
			var doc struct {
				XMLName xml.Name `xml:"testsuites"`
				Suites  []struct {
					Tests    int `xml:"tests,attr"`
					Failures int `xml:"failures,attr"`
					Cases    []struct {
						Name string `xml:"name,attr"`
					} `xml:"testcase"`
				} `xml:"testsuite"`
			}
			require.NoError(t, xml.Unmarshal(x, &doc))
			require.Len(t, doc.Suites, 1)
			assert.Equal(t, len(cert.Cases), doc.Suites[0].Tests)
			assert.Equal(t, cert.Count(conformance.Failed), doc.Suites[0].Failures)
		})
	}
}

func TestMainUsageErrors(t *testing.T) {
	reg, _ := registry(t)
	noPlugin := filepath.Join(t.TempDir(), "plugin")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no driver", nil, "--driver NAME"},
		{"unknown driver", []string{"--driver", "pigeon"}, `unknown driver "pigeon"`},
		{"unknown flag", []string{"--drivr", "tcp"}, "-drivr"},
		{"bad level", []string{"--driver", "tcp", "--level", "may"}, `--level "may"`},
		{"bad regex", []string{"--driver", "tcp", "--run", "("}, "--run"},
		{"config not JSON", []string{"--driver", "tcp", "--config", "{nope"}, "not a JSON object"},
		{"config file missing", []string{"--driver", "tcp", "--config", filepath.Join(t.TempDir(), "none.json")}, "none.json"},
		{"config rejected by the driver", []string{"--driver", "tcp", "--config", `{"no_such_key":1}`}, "no_such_key"},
		{"plugin without a host", []string{"--plugin", noPlugin}, "no plugin host"},
		{"stray argument", []string{"--driver", "tcp", "extra"}, `"extra"`},
		{"bad time scale", []string{"--driver", "tcp", "--time-scale", "0"}, "--time-scale"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, cli.Options{Registry: reg}, tt.args...)
			assert.Equal(t, cli.ExitUsage, r.code, r.stdout)
			assert.Contains(t, r.stderr, tt.want)
		})
	}
}

func TestMainList(t *testing.T) {
	r := run(t, cli.Options{}, "--list")
	require.Equal(t, cli.ExitCertified, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, len(conformance.Cases())+1)
	assert.Regexp(t, `^ID\s+LEVEL\s+TRANSPORT\s+NAME\s+CHECKS$`, lines[0])
	assert.Regexp(t, `^S05\s+MUST\s+stream\s+PeerResetIsErrReset\s+an abortive close`, lines[6])
	assert.Regexp(t, `^P01\s+MUST\s+any\s+KillFailsConn\s+`, r.stdout[strings.Index(r.stdout, "P01"):])
}

// --plugin hands the opener's driver and lifecycle hook to the suite and
// hashes the plugin binary.
func TestMainPlugin(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "iotd-driver-tcp")
	require.NoError(t, os.WriteFile(bin, []byte("plugin bytes"), 0o600))
	stopped := false
	open := func(_ context.Context, path, name string) (driver.Driver, conformance.Lifecycle, func() error, error) {
		assert.Equal(t, bin, path)
		assert.Equal(t, "tcp", name)
		return posix.NewTCP(), nil, func() error { stopped = true; return nil }, nil
	}
	jsonPath := filepath.Join(t.TempDir(), "cert.json")
	r := run(t, cli.Options{Plugin: open}, "--plugin", bin, "--driver", "tcp", "--run", "^S01$", "--json", jsonPath)
	require.Equal(t, cli.ExitCertified, r.code, r.stderr)
	assert.True(t, stopped, "the plugin is stopped after the run")
	b, err := os.ReadFile(jsonPath)
	require.NoError(t, err)
	var cert conformance.Report
	require.NoError(t, json.Unmarshal(b, &cert))
	sum := sha256.Sum256([]byte("plugin bytes"))
	assert.Equal(t, hex.EncodeToString(sum[:]), cert.BinarySHA256)
}
