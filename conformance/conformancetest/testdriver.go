package conformancetest

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/net/nettest"

	"github.com/iotd/iotd/conformance"
)

// TestDriver runs every case as a subtest of t, named "ID_Name", and logs
// the summary. A case that does not apply is skipped with its reason;
// failed MUST and SHOULD cases both fail the test, except the cases listed
// in Harness.KnownFailures, whose failure skips the subtest. A driver's
// test calls it in one line:
//
//	func TestConformance(t *testing.T) {
//		conformancetest.TestDriver(t, conformance.Harness{Driver: mydriver.New()})
//	}
func TestDriver(t *testing.T, h conformance.Harness) {
	t.Helper()
	x, err := conformance.Start(t.Context(), h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(x.Close)
	rep := conformance.NewReport(h)
	start := time.Now()
	for _, k := range conformance.Cases() {
		t.Run(k.FullName(), func(t *testing.T) {
			var res conformance.CaseResult
			if k.External {
				res = runExternal(t, x, k)
			} else {
				res = x.RunCase(t.Context(), k)
			}
			rep.Cases = append(rep.Cases, res)
			switch res.Status {
			case conformance.Failed:
				if why, known := h.KnownFailures[k.ID]; known {
					t.Skipf("known failure (%s); this run: %s", why, strings.Join(res.Failures, "; "))
				}
				for _, f := range res.Failures {
					t.Errorf("%s (%s) %s: %s", k.ID, k.Level, k.Doc, f)
				}
			case conformance.Skipped:
				t.Skip(res.Reason)
			case conformance.Passed:
				if why, known := h.KnownFailures[k.ID]; known {
					t.Logf("listed as a known failure (%s) but passed this run", why)
				}
			}
		})
	}
	rep.Duration = time.Since(start)
	t.Log("\n" + rep.Summary())
}

// runExternal runs a case whose body is here rather than in package
// conformance. Its failures are reported on t directly by the checker
// (nettest), so the result only records the outcome.
func runExternal(t *testing.T, x *conformance.Session, k conformance.Case) conformance.CaseResult {
	res := conformance.CaseResult{ID: k.ID, Name: k.Name, Level: k.Level, Transport: k.Transport, Status: conformance.Skipped}
	if res.Reason = x.Applies(k); res.Reason != "" {
		return res
	}
	began := time.Now()
	switch k.ID {
	case "S15":
		nettest.TestConn(t, nettest.MakePipe(x.Pipe))
	default:
		res.Reason = "this version of conformancetest has no body for " + k.ID
		return res
	}
	res.Duration, res.Status, res.Reason = time.Since(began), conformance.Passed, ""
	if t.Failed() {
		res.Status = conformance.Failed
		res.Failures = []string{"see the subtests' output"}
	}
	return res
}
