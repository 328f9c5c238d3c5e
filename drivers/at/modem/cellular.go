package modem

import (
	"context"
	"fmt"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/at"
)

// Helpers for dialects: what the built-in ones share.

// CSQ reads AT+CSQ: rssi 0..31 is -113 + 2·rssi dBm, 99 unknown. It is the
// signal of a cellular dialect that has no [Signaler].
func CSQ(ctx context.Context, m *Modem) (driver.Signal, error) {
	r, err := m.Do(ctx, at.Command{Text: "AT+CSQ"})
	if err != nil {
		return driver.Signal{}, fmt.Errorf("at: signal: %w", err)
	}
	for _, l := range r.Lines {
		if rssi, ok := at.ArgInt(at.SplitArgs(l, "+CSQ"), 0); ok {
			return csqToSignal(rssi), nil
		}
	}
	return driver.Signal{}, fmt.Errorf("at: signal: no +CSQ line in the answer")
}

func csqToSignal(rssi int) driver.Signal {
	if rssi < 0 || rssi > 31 {
		return driver.Signal{Quality: -1}
	}
	return driver.Signal{RSSI: -113 + 2*rssi, Quality: rssi * 100 / 31}
}

// AuthType is the PDP authentication type for the configured credentials:
// 0 none, or 3 PAP-or-CHAP when a user or password is set (the numbering
// of AT+QICSGP, AT+CGAUTH and AT+UPSD alike).
func (c Config) AuthType() int {
	if c.User != "" || c.Password != "" {
		return 3
	}
	return 0
}

// AttachError is a failed data attach in a [Dialect]'s Attach: what (the
// step, with its command) failed, and the fixes the user can make.
func AttachError(what string, err error) error {
	return &SetupError{Kind: ErrAttach, Msg: what + " failed: check \"apn\" (and \"user\"/\"password\" if the operator wants them) and that the SIM's plan includes data", Err: err}
}
