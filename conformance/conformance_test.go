package conformance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/conformance"
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
	rep, err := conformance.Run(t.Context(), conformance.Harness{
		Driver:   versioned{posix.NewTCP()},
		Features: conformance.Features{Capabilities: []string{"keepalive"}},
	})
	require.NoError(t, err)
	assert.True(t, rep.Certified(), rep.Summary())
	assert.Equal(t, 0, rep.Count(conformance.Failed), rep.Summary())
	assert.Len(t, rep.Cases, len(conformance.Cases()))
	assert.Equal(t, "tcp", rep.Driver)
	assert.Equal(t, "9.9.9-test", rep.DriverVersion)
	assert.Equal(t, []string{"keepalive"}, rep.Capabilities)
	assert.Equal(t, conformance.Version, rep.SuiteVersion)

	nt := resultOf(t, rep, "S15")
	assert.Equal(t, conformance.Skipped, nt.Status)
	assert.Contains(t, nt.Reason, "TestDriver")
	dg := resultOf(t, rep, "D01")
	assert.Equal(t, conformance.Skipped, dg.Status)
	assert.Contains(t, dg.Reason, "datagram")
	assert.Equal(t, conformance.Passed, resultOf(t, rep, "S05").Status)

	assert.Contains(t, rep.Summary(), "CERTIFIED")
	assert.NotContains(t, rep.Summary(), "NOT CERTIFIED")

	var js bytes.Buffer
	require.NoError(t, rep.WriteJSON(&js))
	var back conformance.Report
	require.NoError(t, json.Unmarshal(js.Bytes(), &back))
	assert.Equal(t, rep.Cases, back.Cases)
	assert.Equal(t, rep.Environment, back.Environment)
	assert.Empty(t, back.BinarySHA256)

	var jx bytes.Buffer
	require.NoError(t, rep.WriteJUnit(&jx))
	var suites struct {
		Suites []struct {
			Name    string `xml:"name,attr"`
			Tests   int    `xml:"tests,attr"`
			Skipped int    `xml:"skipped,attr"`
			Cases   []struct {
				Name    string    `xml:"name,attr"`
				Skipped *struct{} `xml:"skipped"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	require.NoError(t, xml.Unmarshal(jx.Bytes(), &suites))
	require.Len(t, suites.Suites, 1)
	assert.Equal(t, "conformance/tcp", suites.Suites[0].Name)
	assert.Equal(t, len(rep.Cases), suites.Suites[0].Tests)
	assert.Equal(t, rep.Count(conformance.Skipped), suites.Suites[0].Skipped)
	assert.Equal(t, "G01_UndeclaredTransport", suites.Suites[0].Cases[0].Name)
}

// TestRunCatchesBrokenDrivers: each deliberately broken driver fails the
// case meant to catch it, and is not certified.
func TestRunCatchesBrokenDrivers(t *testing.T) {
	tests := []struct {
		name   string
		broken func(driver.Conn) driver.Conn
		caseID string
	}{
		{"reset reported as EOF", func(c driver.Conn) driver.Conn { return &resetAsEOF{c} }, "S05"},
		{"corrupts a byte", func(c driver.Conn) driver.Conn { return &corrupting{Conn: c} }, "S03"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := conformance.Run(t.Context(), conformance.Harness{Driver: wrapping{posix.NewTCP(), tt.broken}})
			require.NoError(t, err)
			assert.Equal(t, conformance.Failed, resultOf(t, rep, tt.caseID).Status, rep.Summary())
			assert.False(t, rep.Certified())
			assert.Contains(t, rep.Summary(), "NOT CERTIFIED")
		})
	}
}

func TestRunRejectsBadHarness(t *testing.T) {
	_, err := conformance.Run(t.Context(), conformance.Harness{})
	assert.Error(t, err)
	_, err = conformance.Run(t.Context(), conformance.Harness{
		Driver: posix.NewTCP(),
		Config: func(conformance.Env) ([]byte, error) { return []byte(`{"no_such_key":1}`), nil },
	})
	assert.ErrorContains(t, err, "no_such_key")
}

// versioned adds a Version to a driver.
type versioned struct{ driver.Driver }

func (versioned) Version() string { return "9.9.9-test" }

// wrapping is a driver whose conns are replaced by broken ones.
type wrapping struct {
	driver.Driver
	wrap func(driver.Conn) driver.Conn
}

func (w wrapping) Open(config []byte) (driver.Dialer, error) {
	d, err := w.Driver.Open(config)
	if err != nil {
		return nil, err
	}
	return wrappingDialer{d, w.wrap}, nil
}

type wrappingDialer struct {
	driver.Dialer
	wrap func(driver.Conn) driver.Conn
}

func (w wrappingDialer) Dial(ctx context.Context, t driver.Transport, addr string) (driver.Conn, error) {
	c, err := w.Dialer.Dial(ctx, t, addr)
	if err != nil {
		return nil, err
	}
	return w.wrap(c), nil
}

// resetAsEOF reports an abortive close as an orderly one.
type resetAsEOF struct{ driver.Conn }

func (c *resetAsEOF) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if errors.Is(err, driver.ErrReset) {
		err = io.EOF
	}
	return n, err
}

// corrupting flips the 100001st byte written.
type corrupting struct {
	driver.Conn
	written int
}

func (c *corrupting) Write(p []byte) (int, error) {
	const at = 100_000
	if c.written <= at && at < c.written+len(p) {
		p = bytes.Clone(p)
		p[at-c.written] ^= 0xff
	}
	c.written += len(p)
	return c.Conn.Write(p)
}
