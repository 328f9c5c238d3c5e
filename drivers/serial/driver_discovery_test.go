package serial

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/iotd/iotd/core/driver"
)

// Where ports cannot be discovered (not Linux), the driver's probe skips
// and says why, instead of failing.
func TestProbeSkipsWithoutDiscovery(t *testing.T) {
	d := serialDriver{list: func() ([]PortInfo, error) {
		return nil, fmt.Errorf("serial: list ports: %w, not available on windows", ErrNoDiscovery)
	}}
	err := d.Probe(context.Background())
	if !errors.Is(err, driver.ErrSkip) || !errors.Is(err, ErrNoDiscovery) {
		t.Fatalf("Probe = %v, want ErrSkip wrapping ErrNoDiscovery", err)
	}
}
