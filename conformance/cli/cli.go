package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"text/tabwriter"

	"github.com/iotd/iotd/conformance"
	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/internal/pki"
)

// Exit statuses of [Main].
const (
	// ExitCertified: no MUST case failed (with --level should: no case
	// failed). A run narrowed by --run exits 0 too but is no certificate.
	ExitCertified = 0
	// ExitFailed: a MUST case failed (with --level should: any case).
	ExitFailed = 1
	// ExitUsage: bad flags, or the run itself could not happen (a peer
	// did not start, the driver rejected the configuration).
	ExitUsage = 2
)

// PluginOpener starts the driver plugin binary at path and returns its
// driver named name ("" when the plugin serves exactly one), the hook
// that can kill and await the restart of its process, and a function that
// stops it.
type PluginOpener func(ctx context.Context, path, name string) (driver.Driver, conformance.Lifecycle, func() error, error)

// Options is what the binary hands [Main].
type Options struct {
	// Registry is where --driver looks; nil means core.Default.
	Registry *core.Registry
	// Plugin opens --plugin binaries; nil means this build has no plugin
	// host and --plugin is refused.
	Plugin PluginOpener
	// Executable is the binary that runs built-in drivers, hashed into
	// the certificate; "" means os.Executable().
	Executable string
	// Stdout receives progress and the summary, Stderr errors; nil
	// discards.
	Stdout, Stderr io.Writer
}

// Usage is the command's help text.
const Usage = `usage: iotd conformance --driver NAME [flags]
       iotd conformance --plugin PATH [--driver NAME] [flags]
       iotd conformance --list

Runs the transport conformance suite against a driver and reports whether
it is certified: every applicable MUST case passed and none was left out.
Progress and a summary go to stdout. Exit status: 0 certified (or, with
--run, nothing failed), 1 a MUST case failed (--level should: any case),
2 a usage error or a run that could not start.

The configuration is the driver's JSON (a file, or inline when it starts
with "{"); the text {{ca_file}} in it is replaced by the suite's CA file,
for TLS drivers: --tls --config '{"ca_file":"{{ca_file}}"}'.

flags:
`

type flags struct {
	driverName, plugin, config, junit, jsonOut, run, level string
	list, tls                                              bool
	capabilities                                           string
	timeScale                                              float64
}

// Main runs "iotd conformance" with args (the flags after the command
// name) and returns the exit status.
func Main(ctx context.Context, args []string, o Options) int {
	stdout, stderr := o.Stdout, o.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	var f flags
	fs := flag.NewFlagSet("iotd conformance", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, Usage)
		fs.PrintDefaults()
	}
	fs.StringVar(&f.driverName, "driver", "", "certify the driver registered under `NAME` in this binary (with --plugin: the plugin's driver of that name)")
	fs.StringVar(&f.plugin, "plugin", "", "certify the driver plugin binary at `PATH`")
	fs.StringVar(&f.config, "config", "", "the driver's JSON configuration: a `FILE`, or inline JSON")
	fs.StringVar(&f.junit, "junit", "", "write JUnit XML to `FILE`")
	fs.StringVar(&f.jsonOut, "json", "", "write the JSON certificate to `FILE`")
	fs.StringVar(&f.run, "run", "", "run only the cases whose ID or ID_Name matches `REGEX` (the report is then no certificate)")
	fs.StringVar(&f.level, "level", "must", "the failures that make the exit status 1: `must` or should")
	fs.BoolVar(&f.list, "list", false, "list the cases and exit")
	fs.BoolVar(&f.tls, "tls", false, "the driver's stream transport is TLS verifying against {{ca_file}}: run the TLS cases")
	fs.StringVar(&f.capabilities, "capabilities", "", "comma-separated capabilities the driver declares, for the certificate")
	fs.Float64Var(&f.timeScale, "time-scale", 1, "multiply the suite's 5 s bound on each blocking step (slow links)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitCertified
		}
		return ExitUsage
	}
	if f.list {
		listCases(stdout)
		return ExitCertified
	}
	code, err := run(ctx, f, fs.Args(), o, stdout)
	if err != nil {
		fmt.Fprintln(stderr, "iotd conformance:", err)
	}
	return code
}

func run(ctx context.Context, f flags, rest []string, o Options, stdout io.Writer) (int, error) {
	if len(rest) > 0 {
		return ExitUsage, fmt.Errorf("unexpected argument %q: all options are flags (see --help)", rest[0])
	}
	if f.driverName == "" && f.plugin == "" {
		return ExitUsage, errors.New("name the driver: --driver NAME (built in) or --plugin PATH [--driver NAME]")
	}
	level := conformance.Level(strings.ToUpper(f.level))
	if level != conformance.Must && level != conformance.Should {
		return ExitUsage, fmt.Errorf("--level %q: use must or should", f.level)
	}
	if !(f.timeScale > 0) {
		return ExitUsage, fmt.Errorf("--time-scale %v: use a positive factor", f.timeScale)
	}
	var opts []conformance.Option
	if f.run != "" {
		re, err := regexp.Compile(f.run)
		if err != nil {
			return ExitUsage, fmt.Errorf("--run: %w", err)
		}
		opts = append(opts, conformance.Select(re))
	}
	config, err := loadConfig(f.config)
	if err != nil {
		return ExitUsage, err
	}
	h := conformance.Harness{
		Features:  conformance.Features{TLS: f.tls, Capabilities: splitList(f.capabilities)},
		TimeScale: f.timeScale,
	}
	if config != nil {
		h.Config = func(env conformance.Env) ([]byte, error) { return expand(config, env) }
	}
	binary := o.Executable
	if f.plugin != "" {
		if o.Plugin == nil {
			return ExitUsage, errors.New("--plugin: this build of iotd has no plugin host; certify a built-in driver with --driver")
		}
		d, lc, stop, err := o.Plugin(ctx, f.plugin, f.driverName)
		if err != nil {
			return ExitUsage, fmt.Errorf("start plugin %s: %w", f.plugin, err)
		}
		defer func() { _ = stop() }()
		h.Driver, h.Lifecycle, binary = d, lc, f.plugin
	} else {
		reg := o.Registry
		if reg == nil {
			reg = core.Default
		}
		if h.Driver, err = reg.Driver(f.driverName); err != nil {
			return ExitUsage, err
		}
		if binary == "" {
			if binary, err = os.Executable(); err != nil {
				return ExitUsage, fmt.Errorf("find this binary to hash it: %w", err)
			}
		}
	}
	sum, err := hashFile(binary)
	if err != nil {
		return ExitUsage, err
	}
	opts = append(opts, conformance.Progress(nil, func(r conformance.CaseResult) {
		if r.Status != conformance.Excluded {
			fmt.Fprintln(stdout, r.Line())
		}
	}))
	rep, err := conformance.Run(ctx, h, opts...)
	if err != nil {
		return ExitUsage, err
	}
	rep.BinarySHA256, rep.BinaryPath = sum, binary
	fmt.Fprint(stdout, "\n"+rep.Summary())
	if err := writeReport(f.jsonOut, rep.WriteJSON); err != nil {
		return ExitUsage, err
	}
	if err := writeReport(f.junit, rep.WriteJUnit); err != nil {
		return ExitUsage, err
	}
	if rep.FailedAt(level) {
		return ExitFailed, nil
	}
	return ExitCertified, nil
}

// loadConfig reads --config: inline JSON or a file. It checks that the
// result is a JSON object.
func loadConfig(v string) ([]byte, error) {
	if v == "" {
		return nil, nil
	}
	b := []byte(v)
	if !strings.HasPrefix(strings.TrimSpace(v), "{") {
		var err error
		if b, err = os.ReadFile(v); err != nil {
			return nil, fmt.Errorf("--config: %w (give a file or inline JSON starting with {)", err)
		}
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return nil, fmt.Errorf("--config: not a JSON object: %w", err)
	}
	return b, nil
}

// expand replaces {{ca_file}} with env.CAFile, escaped for a JSON string.
func expand(config []byte, env conformance.Env) ([]byte, error) {
	q, err := json.Marshal(env.CAFile)
	if err != nil {
		return nil, err
	}
	return bytes.ReplaceAll(config, []byte("{{ca_file}}"), q[1:len(q)-1]), nil
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("hash the driver's binary: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash the driver's binary %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeReport writes one report format to path, atomically; "" skips it.
func writeReport(path string, write func(io.Writer) error) error {
	if path == "" {
		return nil
	}
	var b bytes.Buffer
	if err := write(&b); err != nil {
		return err
	}
	if err := pki.WriteFileAtomic(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// listCases prints every case: ID, level, transport and what it checks.
func listCases(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tLEVEL\tTRANSPORT\tNAME\tCHECKS")
	for _, k := range conformance.Cases() {
		t := string(k.Transport)
		if t == "" {
			t = "any"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Level, t, k.Name, k.Doc)
	}
	_ = tw.Flush()
}
