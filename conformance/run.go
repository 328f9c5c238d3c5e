package conformance

import (
	"context"
	"os"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"time"

	"github.com/iotd/iotd/core/driver"
)

// Option changes how [Run] runs the cases.
type Option func(*runConfig)

type runConfig struct {
	filter  *regexp.Regexp
	started func(Case)
	done    func(CaseResult)
}

// Select runs only the cases whose ID or FullName re matches; the others
// are reported as [Excluded], and a report with an excluded case is not a
// certificate. A nil re selects every case.
func Select(re *regexp.Regexp) Option { return func(c *runConfig) { c.filter = re } }

// Progress calls started before each case runs and done after it, from
// Run's goroutine; either may be nil. A front end prints progress with it.
func Progress(started func(Case), done func(CaseResult)) Option {
	return func(c *runConfig) { c.started, c.done = started, done }
}

// Run runs every case against the harness's driver and returns the report.
// The error is about the run itself (a peer that would not start, a
// configuration the driver rejected), not about the driver failing cases:
// those are in the report (see [Report.Certified]). External cases (they
// need a *testing.T) are reported as skipped; conformancetest.TestDriver
// runs them.
func Run(ctx context.Context, h Harness, opts ...Option) (Report, error) {
	var cfg runConfig
	for _, o := range opts {
		o(&cfg)
	}
	rep := NewReport(h)
	if cfg.filter != nil {
		rep.Selection = cfg.filter.String()
	}
	x, err := Start(ctx, h)
	if err != nil {
		return rep, err
	}
	defer x.Close()
	start := time.Now()
	for _, k := range Cases() {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		res := CaseResult{ID: k.ID, Name: k.Name, Level: k.Level, Transport: k.Transport}
		switch {
		case cfg.filter != nil && !cfg.filter.MatchString(k.ID) && !cfg.filter.MatchString(k.FullName()):
			res.Status, res.Reason = Excluded, "excluded by the selection "+cfg.filter.String()
			if why := x.Applies(k); why != "" {
				res.Status, res.Reason = Skipped, why
			}
		case k.External:
			res.Status = Skipped
			if res.Reason = x.Applies(k); res.Reason == "" {
				res.Reason = "needs a *testing.T: run it through conformancetest.TestDriver under go test"
			}
		default:
			if cfg.started != nil && x.Applies(k) == "" {
				cfg.started(k)
			}
			res = x.RunCase(ctx, k)
		}
		rep.Cases = append(rep.Cases, res)
		if cfg.done != nil {
			cfg.done(res)
		}
	}
	rep.Duration = time.Since(start)
	return rep, nil
}

// NewReport returns a report with the parts known before any case runs:
// suite, driver, capabilities and environment. Front ends append the
// cases' results.
func NewReport(h Harness) Report {
	rep := Report{
		Suite:        "iotd transport conformance",
		SuiteVersion: Version,
		Capabilities: slices.Clone(h.Features.Capabilities),
		Started:      time.Now().UTC(),
		TimeScale:    1,
		Environment: Environment{
			GoVersion: runtime.Version(),
			OS:        runtime.GOOS,
			Arch:      runtime.GOARCH,
			CPUs:      runtime.NumCPU(),
		},
	}
	if h.TimeScale > 0 {
		rep.TimeScale = h.TimeScale
	}
	rep.Environment.Host, _ = os.Hostname()
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				rep.SuiteRevision = s.Value
			}
		}
	}
	if h.Driver != nil {
		rep.Driver = h.Driver.Name()
		rep.Transports = slices.Clone(h.Driver.Transports())
		if v, err := driver.Lookup[driver.Versioner](h.Driver); err == nil {
			rep.DriverVersion = v.Version()
		}
	}
	if h.Features.TLS {
		rep.Capabilities = append(rep.Capabilities, "feature:tls")
	}
	if h.Lifecycle != nil {
		rep.Capabilities = append(rep.Capabilities, "hook:lifecycle")
	}
	if h.Modem != nil {
		rep.Capabilities = append(rep.Capabilities, "hook:modem")
	}
	if rep.Capabilities == nil {
		rep.Capabilities = []string{}
	}
	return rep
}
