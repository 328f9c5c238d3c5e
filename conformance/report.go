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
	// Driver and DriverVersion identify the driver (the version from
	// driver.Versioner, "" when it offers none).
	Driver        string             `json:"driver"`
	DriverVersion string             `json:"driver_version,omitempty"`
	Transports    []driver.Transport `json:"transports"`
	// BinarySHA256 is the hex SHA-256 of the driver's plugin binary; empty
	// for in-process runs (the CLI fills it).
	BinarySHA256 string `json:"binary_sha256,omitempty"`
	// Capabilities are the declared capabilities and features.
	Capabilities []string      `json:"capabilities"`
	Environment  Environment   `json:"environment"`
	Started      time.Time     `json:"started"`
	Duration     time.Duration `json:"duration_ns"`
	Cases        []CaseResult  `json:"cases"`
}

// Environment is where the run happened.
type Environment struct {
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
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

// Certified reports whether every applicable MUST case passed. Failed
// SHOULD cases are warnings and do not prevent certification.
func (r Report) Certified() bool {
	for _, c := range r.Cases {
		if c.Level == Must && c.Status == Failed {
			return false
		}
	}
	return len(r.Cases) > 0
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
		case c.Status == Skipped:
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
	if r.Certified() {
		verdict = "CERTIFIED"
	}
	fmt.Fprintf(&b, "%d passed, %d failed, %d skipped: %s\n", r.Count(Passed), r.Count(Failed), r.Count(Skipped), verdict)
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
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
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
		Skipped: r.Count(Skipped), Time: seconds(r.Duration)}
	for _, c := range r.Cases {
		jc := junitCase{Name: c.ID + "_" + c.Name, Classname: "conformance." + r.Driver + "." + string(c.Level), Time: seconds(c.Duration)}
		switch c.Status {
		case Failed:
			jc.Failure = &junitMessage{Message: fmt.Sprintf("%s case failed", c.Level), Text: strings.Join(c.Failures, "\n")}
		case Skipped:
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
