package conformance_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/iotd/iotd/conformance"
)

// The verdict: MUST failures and exclusions void certification, SHOULD
// failures only under --level should.
func TestReportVerdict(t *testing.T) {
	must := func(s conformance.Status) conformance.CaseResult {
		return conformance.CaseResult{ID: "S01", Level: conformance.Must, Status: s}
	}
	should := func(s conformance.Status) conformance.CaseResult {
		return conformance.CaseResult{ID: "D09", Level: conformance.Should, Status: s}
	}
	tests := []struct {
		name                      string
		cases                     []conformance.CaseResult
		certified, mustF, shouldF bool
	}{
		{"empty", nil, false, false, false},
		{"all passed", []conformance.CaseResult{must(conformance.Passed), should(conformance.Passed)}, true, false, false},
		{"should failed", []conformance.CaseResult{must(conformance.Passed), should(conformance.Failed)}, true, false, true},
		{"must failed", []conformance.CaseResult{must(conformance.Failed), should(conformance.Passed)}, false, true, true},
		{"skipped only counts as nothing", []conformance.CaseResult{must(conformance.Passed), should(conformance.Skipped)}, true, false, false},
		{"excluded", []conformance.CaseResult{must(conformance.Passed), must(conformance.Excluded)}, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := conformance.Report{Cases: tt.cases}
			assert.Equal(t, tt.certified, r.Certified())
			assert.Equal(t, tt.mustF, r.FailedAt(conformance.Must))
			assert.Equal(t, tt.shouldF, r.FailedAt(conformance.Should))
		})
	}
}
