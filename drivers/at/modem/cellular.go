package at

import (
	"context"
	"fmt"

	"github.com/iotd/iotd/core/driver"
)

// Helpers the cellular dialects share.

// csqSignal reads AT+CSQ: rssi 0..31 is -113 + 2·rssi dBm, 99 unknown.
func csqSignal(ctx context.Context, m *Modem) (driver.Signal, error) {
	r, err := m.do(ctx, Command{Text: "AT+CSQ"})
	if err != nil {
		return driver.Signal{}, fmt.Errorf("at: signal: %w", err)
	}
	for _, l := range r.Lines {
		if rssi, ok := argInt(splitArgs(l, "+CSQ"), 0); ok {
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

// invalidate makes the next Dial run the bring-up again (the data path
// went down) and fails the open sockets with err.
func (m *Modem) invalidate(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.upGen = -1
	m.failAllLocked(err)
}

// pdpArgs formats the APN, user and password arguments (quoted) and the
// authentication type: 0 none, or 3 PAP-or-CHAP when a user is set.
func pdpAuth(c Config) int {
	if c.User != "" || c.Password != "" {
		return 3
	}
	return 0
}

// attachErr is a failed data attach, naming the likely fixes.
func attachErr(what string, err error) error {
	return &SetupError{Kind: ErrAttach, Msg: what + " failed: check \"apn\" (and \"user\"/\"password\" if the operator wants them) and that the SIM's plan includes data", Err: err}
}
