package conformance_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/conformance"
	"github.com/iotd/iotd/conformance/internal/broken"
	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/posix"
)

func resultOf(t *testing.T, rep conformance.Report, id string) conformance.CaseResult {
	t.Helper()
	for _, c := range rep.Cases {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("no case %s in the report", id)
	return conformance.CaseResult{}
}

// TestRunCertifiesTCP runs the binary front end against the real tcp
// driver and checks every report format.
func TestRunCertifiesTCP(t *testing.T) {
	var started, done []string
	rep, err := conformance.Run(t.Context(), conformance.Harness{
		Driver:   versioned{posix.NewTCP()},
		Features: conformance.Features{Capabilities: []string{"keepalive"}},
	}, conformance.Progress(
		func(k conformance.Case) { started = append(started, k.ID) },
		func(r conformance.CaseResult) { done = append(done, r.ID) }))
	require.NoError(t, err)
	assert.True(t, rep.Certified(), rep.Summary())
	assert.Equal(t, 0, rep.Count(conformance.Failed), rep.Summary())
	assert.Len(t, rep.Cases, len(conformance.Cases()))
	assert.Len(t, done, len(conformance.Cases()), "one progress call per case")
	assert.Contains(t, started, "S01")
	assert.NotContains(t, started, "D01", "a case that does not apply is not started")
	assert.Equal(t, "tcp", rep.Driver)
	assert.Equal(t, "9.9.9-test", rep.DriverVersion)
	assert.Equal(t, []string{"keepalive"}, rep.Capabilities)
	assert.Equal(t, conformance.Version, rep.SuiteVersion)
	assert.NotEmpty(t, rep.Environment.Host)
	assert.Equal(t, 1.0, rep.TimeScale)

	for _, tt := range []struct {
		id     string
		status conformance.Status
		reason string
	}{
		{"S15", conformance.Skipped, "TestDriver"},
		{"D01", conformance.Skipped, "datagram"},
		{"P01", conformance.Skipped, "Lifecycle"},
		{"M01", conformance.Skipped, "Modem"},
		{"S05", conformance.Passed, ""},
		{"S16", conformance.Passed, ""},
		{"S17", conformance.Passed, ""},
	} {
		r := resultOf(t, rep, tt.id)
		assert.Equal(t, tt.status, r.Status, tt.id)
		assert.Contains(t, r.Reason, tt.reason, tt.id)
	}
	assert.Contains(t, rep.Summary(), "CERTIFIED")
	assert.NotContains(t, rep.Summary(), "NOT CERTIFIED")
	assert.Regexp(t, `^S01 ConnectEcho \.\.\. PASS \(\d+ms\)$`, resultOf(t, rep, "S01").Line())

	var js bytes.Buffer
	require.NoError(t, rep.WriteJSON(&js))
	var back conformance.Report
	require.NoError(t, json.Unmarshal(js.Bytes(), &back))
	assert.Equal(t, rep.Cases, back.Cases)
	assert.Equal(t, rep.Environment, back.Environment)
	assert.Empty(t, back.BinarySHA256)

	var jx bytes.Buffer
	require.NoError(t, rep.WriteJUnit(&jx))
	suites := parseJUnit(t, jx.Bytes())
	require.Len(t, suites.Suites, 1)
	assert.Equal(t, "conformance/tcp", suites.Suites[0].Name)
	assert.Equal(t, len(rep.Cases), suites.Suites[0].Tests)
	assert.Equal(t, rep.Count(conformance.Skipped), suites.Suites[0].Skipped)
	assert.Equal(t, "G01_UndeclaredTransport", suites.Suites[0].Cases[0].Name)
}

type junitDoc struct {
	Suites []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Skipped  int    `xml:"skipped,attr"`
		Cases    []struct {
			Name    string    `xml:"name,attr"`
			Skipped *struct{} `xml:"skipped"`
			Failure *struct{} `xml:"failure"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func parseJUnit(t *testing.T, b []byte) junitDoc {
	t.Helper()
	var doc junitDoc
	require.NoError(t, xml.Unmarshal(b, &doc), string(b))
	return doc
}

// TestRunCatchesBrokenDrivers: each deliberately broken driver fails the
// case meant to catch it, and is not certified.
func TestRunCatchesBrokenDrivers(t *testing.T) {
	for _, d := range broken.All() {
		t.Run(d.Name(), func(t *testing.T) {
			t.Cleanup(d.Close)
			rep, err := conformance.Run(t.Context(), conformance.Harness{Driver: d})
			require.NoError(t, err)
			id := broken.Catches[d.Defect()]
			require.NotEmpty(t, id)
			assert.Equal(t, conformance.Failed, resultOf(t, rep, id).Status, rep.Summary())
			assert.False(t, rep.Certified())
			assert.True(t, rep.FailedAt(conformance.Must))
			assert.Contains(t, rep.Summary(), "NOT CERTIFIED")
		})
	}
}

// A selection leaves cases out; the report says so and is no certificate.
func TestRunSelection(t *testing.T) {
	rep, err := conformance.Run(t.Context(), conformance.Harness{Driver: posix.NewTCP()},
		conformance.Select(regexp.MustCompile(`^S0[12]`)))
	require.NoError(t, err)
	assert.Equal(t, conformance.Passed, resultOf(t, rep, "S01").Status)
	assert.Equal(t, conformance.Passed, resultOf(t, rep, "S02").Status)
	assert.Equal(t, conformance.Excluded, resultOf(t, rep, "S03").Status)
	assert.Equal(t, conformance.Skipped, resultOf(t, rep, "D01").Status, "not applicable beats excluded")
	assert.False(t, rep.FailedAt(conformance.Must))
	assert.False(t, rep.Certified())
	assert.Equal(t, "^S0[12]", rep.Selection)
	assert.Contains(t, rep.Summary(), "partial run")
}

func TestRunRejectsBadHarness(t *testing.T) {
	tests := []struct {
		name string
		h    conformance.Harness
		want string
	}{
		{"no driver", conformance.Harness{}, "Driver is nil"},
		{"unknown config key", conformance.Harness{
			Driver: posix.NewTCP(),
			Config: func(conformance.Env) ([]byte, error) { return []byte(`{"no_such_key":1}`), nil },
		}, "no_such_key"},
		{"negative time scale", conformance.Harness{Driver: posix.NewTCP(), TimeScale: -1}, "TimeScale"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := conformance.Run(t.Context(), tt.h)
			assert.ErrorContains(t, err, tt.want)
		})
	}
}

// versioned adds a Version to a driver.
type versioned struct{ driver.Driver }

func (versioned) Version() string { return "9.9.9-test" }
