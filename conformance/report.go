package conformance

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/iotd/iotd/core/driver"
)

// Report is the outcome of a run; written as JSON it is the driver's
// conformance certificate.
type Report struct {
	Suite        string `json:"suite"`
	SuiteVersion string `json:"suite_version"`
	// SuiteRevision is the VCS revision the running binary was built
	// from, when the build recorded it.
	SuiteRevision string `json:"suite_revision,omitempty"`
	// Driver and DriverVersion identify the driver (the version from
	// driver.Versioner, "" when it offers none).
	Driver        string             `json:"driver"`
	DriverVersion string             `json:"driver_version,omitempty"`
	Transports    []driver.Transport `json:"transports"`
	// BinarySHA256 is the hex SHA-256 of the binary the driver ran in: the
	// plugin binary, or for a built-in driver the binary that ran the
	// suite. The CLI fills it; it is empty under go test.
	BinarySHA256 string `json:"binary_sha256,omitempty"`
	// BinaryPath is the file BinarySHA256 was computed from.
	BinaryPath string `json:"binary_path,omitempty"`
	// Capabilities are the declared capabilities and features.
	Capabilities []string    `json:"capabilities"`
	Environment  Environment `json:"environment"`
	// TimeScale is the harness's factor on the suite's step bounds.
	TimeScale float64 `json:"time_scale"`
	// Selection is the operator's case selection (a regular expression),
	// "" when every case ran. A report with excluded cases is not a
	// certificate.
	Selection string        `json:"selection,omitempty"`
	Started   time.Time     `json:"started"`
	Duration  time.Duration `json:"duration_ns"`
	Cases     []CaseResult  `json:"cases"`
}

// Environment is where the run happened.
type Environment struct {
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	CPUs      int    `json:"cpus"`
	Host      string `json:"host"`
}

// Count returns how many cases have status s.
func (r Report) Count(s Status) int {
	n := 0
	for _, c := range r.Cases {
		if c.Status == s {
			n++
		}
	}
	return n
}

// Certified reports whether every applicable MUST case passed and none was
// excluded by the operator. Failed SHOULD cases are warnings and do not
// prevent certification.
func (r Report) Certified() bool {
	return len(r.Cases) > 0 && !r.FailedAt(Must) && r.Count(Excluded) == 0
}

// FailedAt reports whether a case failed at level l or above: FailedAt(Must)
// is true when a MUST case failed, FailedAt(Should) when any case failed.
func (r Report) FailedAt(l Level) bool {
	for _, c := range r.Cases {
		if c.Status == Failed && (l == Should || c.Level == Must) {
			return true
		}
	}
	return false
}

// Word is the status as a progress line shows it: PASS, FAIL, SKIP, EXCLUDED.
func (s Status) Word() string {
	switch s {
	case Passed:
		return "PASS"
	case Failed:
		return "FAIL"
	case Skipped:
		return "SKIP"
	}
	return strings.ToUpper(string(s))
}

// Line is the case's one-line progress report: "S01 ConnectEcho ... PASS (12ms)".
func (c CaseResult) Line() string {
	line := fmt.Sprintf("%s %s ... %s (%s)", c.ID, c.Name, c.Status.Word(), c.Duration.Round(time.Millisecond))
	switch {
	case c.Status == Skipped || c.Status == Excluded:
		line = fmt.Sprintf("%s %s ... %s: %s", c.ID, c.Name, c.Status.Word(), c.Reason)
	case c.Status == Failed && c.Level == Should:
		line += " warning (SHOULD)"
	}
	return line
}

// Summary is a human-readable account of the run: one line per case and a
// verdict.
func (r Report) Summary() string {
	var b strings.Builder
	name := r.Driver
	if r.DriverVersion != "" {
		name += " " + r.DriverVersion
	}
	fmt.Fprintf(&b, "%s %s — driver %s (%v)\n", r.Suite, r.SuiteVersion, name, r.Transports)
	for _, c := range r.Cases {
		line := fmt.Sprintf("  %-7s %s %-6s %-26s %8s", strings.ToUpper(string(c.Status)), c.ID, c.Level, c.Name, c.Duration.Round(time.Millisecond))
		switch {
		case c.Status == Skipped || c.Status == Excluded:
			line += "  (" + c.Reason + ")"
		case c.Status == Failed && c.Level == Should:
			line += "  warning"
		}
		b.WriteString(line + "\n")
		for _, f := range c.Failures {
			b.WriteString("          " + strings.ReplaceAll(f, "\n", "\n          ") + "\n")
		}
	}
	verdict := "NOT CERTIFIED"
	switch {
	case r.Certified():
		verdict = "CERTIFIED"
	case !r.FailedAt(Must) && r.Count(Excluded) > 0:
		verdict = "NOT CERTIFIED (partial run: cases excluded by the selection " + r.Selection + ")"
	}
	fmt.Fprintf(&b, "%d passed, %d failed, %d skipped, %d excluded: %s\n", r.Count(Passed), r.Count(Failed), r.Count(Skipped), r.Count(Excluded), verdict)
	return b.String()
}

// WriteJSON writes the report as an indented JSON certificate.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Skipped   int         `xml:"skipped,attr"`
	Time      string      `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr"`
	Hostname  string      `xml:"hostname,attr,omitempty"`
	Cases     []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes the report as JUnit XML, one testsuite for the driver.
func (r Report) WriteJUnit(w io.Writer) error {
	s := junitSuite{Name: "conformance/" + r.Driver, Tests: len(r.Cases), Failures: r.Count(Failed),
		Skipped: r.Count(Skipped) + r.Count(Excluded), Time: seconds(r.Duration),
		Timestamp: r.Started.UTC().Format("2006-01-02T15:04:05"), Hostname: r.Environment.Host}
	for _, c := range r.Cases {
		jc := junitCase{Name: c.ID + "_" + c.Name, Classname: "conformance." + r.Driver + "." + string(c.Level), Time: seconds(c.Duration)}
		switch c.Status {
		case Failed:
			jc.Failure = &junitMessage{Message: fmt.Sprintf("%s case failed", c.Level), Text: strings.Join(c.Failures, "\n")}
		case Skipped, Excluded:
			jc.Skipped = &junitMessage{Message: c.Reason}
		}
		s.Cases = append(s.Cases, jc)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(junitSuites{Suites: []junitSuite{s}}); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }
