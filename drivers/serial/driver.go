package serial

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/iotd/iotd/core/driver"
)

// New returns the "serial" driver. Its Probe lists serial ports (skipped
// when there are none); it offers no transports, and its Dial always fails
// with driver.ErrNotSupported: a serial port is the link to a modem, and the
// AT drivers open connections through it. Its config must be empty ({}).
func New() driver.Driver { return serialDriver{list: List} }

type serialDriver struct {
	list func() ([]PortInfo, error)
}

func (serialDriver) Name() string                   { return "serial" }
func (serialDriver) Transports() []driver.Transport { return []driver.Transport{} }

func (d serialDriver) Probe(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("serial: probe: %w", err)
	}
	ports, err := d.list()
	if errors.Is(err, ErrNoDiscovery) {
		return fmt.Errorf("serial: probe: %w: %w", driver.ErrSkip, err)
	}
	if err != nil {
		return fmt.Errorf("serial: probe: listing ports: %w", err)
	}
	if len(ports) == 0 {
		return fmt.Errorf("serial: probe: %w: no /dev/ttyUSB*, /dev/ttyACM* or /dev/serial/by-id ports", driver.ErrSkip)
	}
	return nil
}

func (serialDriver) Open(config []byte) (driver.Dialer, error) {
	if s := strings.TrimSpace(string(config)); s != "" && s != "null" {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(config, &m); err != nil {
			return nil, fmt.Errorf("serial: config: %w", err)
		}
		for k := range m {
			return nil, fmt.Errorf("serial: config: unknown key %q: the serial driver takes no options (configure the port in the AT modem driver)", k)
		}
	}
	return dialer{}, nil
}

type dialer struct{}

func (dialer) Dial(ctx context.Context, transport driver.Transport, address string) (driver.Conn, error) {
	return nil, fmt.Errorf("serial: dial %s: %w: a serial port carries no network transport; use an AT modem driver (at.*) on it", address, driver.ErrNotSupported)
}
