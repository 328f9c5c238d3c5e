package conformance

import (
	"context"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iotd/iotd/core/driver"
)

// Run runs every case against the harness's driver and returns the report.
// The error is about the run itself (a peer that would not start, a
// configuration the driver rejected), not about the driver failing cases:
// those are in the report (see [Report.Certified]). Cases that need a
// *testing.T (nettest) are reported as skipped; run [TestDriver] for them.
func Run(ctx context.Context, h Harness) (Report, error) {
	rep := newReport(h)
	s, err := newSuite(ctx, h)
	if err != nil {
		return rep, err
	}
	defer s.close()
	start := time.Now()
	for _, k := range Cases() {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if k.needsT != nil {
			res := CaseResult{ID: k.ID, Name: k.Name, Level: k.Level, Transport: k.Transport, Status: Skipped}
			if res.Reason = k.applies(s); res.Reason == "" {
				res.Reason = "needs a *testing.T: run it through conformance.TestDriver under go test"
			}
			rep.Cases = append(rep.Cases, res)
			continue
		}
		rep.Cases = append(rep.Cases, runCase(ctx, s, k))
	}
	rep.Duration = time.Since(start)
	return rep, nil
}

// TestDriver runs every case as a subtest of t, named "ID_Name", and logs
// the summary. A case that does not apply is skipped with its reason;
// failed MUST and SHOULD cases both fail the test. A driver's test calls it
// in one line:
//
//	func TestConformance(t *testing.T) {
//		conformance.TestDriver(t, conformance.Harness{Driver: mydriver.New()})
//	}
func TestDriver(t *testing.T, h Harness) {
	t.Helper()
	s, err := newSuite(t.Context(), h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.close)
	rep := newReport(h)
	start := time.Now()
	for _, k := range Cases() {
		t.Run(k.FullName(), func(t *testing.T) {
			if k.needsT != nil {
				if reason := k.applies(s); reason != "" {
					rep.Cases = append(rep.Cases, CaseResult{ID: k.ID, Name: k.Name, Level: k.Level, Transport: k.Transport, Status: Skipped, Reason: reason})
					t.Skip(reason)
				}
				began := time.Now()
				k.needsT(t, s)
				res := CaseResult{ID: k.ID, Name: k.Name, Level: k.Level, Transport: k.Transport, Status: Passed, Duration: time.Since(began)}
				if t.Failed() {
					res.Status = Failed
				}
				rep.Cases = append(rep.Cases, res)
				return
			}
			res := runCase(t.Context(), s, k)
			rep.Cases = append(rep.Cases, res)
			switch res.Status {
			case Failed:
				if why, known := h.KnownFailures[k.ID]; known {
					t.Skipf("known failure (%s); this run: %s", why, strings.Join(res.Failures, "; "))
				}
				for _, f := range res.Failures {
					t.Errorf("%s (%s) %s: %s", k.ID, k.Level, k.Doc, f)
				}
			case Skipped:
				t.Skip(res.Reason)
			case Passed:
				if why, known := h.KnownFailures[k.ID]; known {
					t.Logf("listed as a known failure (%s) but passed this run", why)
				}
			}
		})
	}
	rep.Duration = time.Since(start)
	t.Log("\n" + rep.Summary())
}

// newReport fills the parts of a report known before any case runs.
func newReport(h Harness) Report {
	rep := Report{
		Suite:        "iotd transport conformance",
		SuiteVersion: Version,
		Capabilities: slices.Clone(h.Features.Capabilities),
		Started:      time.Now().UTC(),
		Environment: Environment{
			GoVersion: runtime.Version(),
			OS:        runtime.GOOS,
			Arch:      runtime.GOARCH,
		},
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
	return rep
}
