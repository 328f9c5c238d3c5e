package dtls_test

import (
	"testing"

	"github.com/iotd/iotd/internal/testlog"
)

// captureLogs sends the default logger to a buffer until the test ends.
func captureLogs(t *testing.T) *testlog.Buffer { return testlog.CaptureDefault(t) }
