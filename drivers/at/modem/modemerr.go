package modem

import (
	"errors"
	"fmt"

	"github.com/iotd/iotd/core/driver"
)

// Conditions found while bringing a modem up. They come wrapped in a
// [*SetupError] whose message names the cause and the fix; branch on them
// with errors.Is.
var (
	// ErrNoModem means nothing answered "AT" on the port.
	ErrNoModem = errors.New("at: no modem answers")
	// ErrNoSIM means the modem reports no SIM card (or a SIM failure).
	ErrNoSIM = errors.New("at: no SIM card")
	// ErrSIMLocked means the SIM wants a PIN (or PUK) that was not given
	// or was refused.
	ErrSIMLocked = errors.New("at: SIM card locked")
	// ErrNotRegistered means the modem did not register with a network
	// in time; see [*SetupError.Denied].
	ErrNotRegistered = errors.New("at: not registered with a network")
	// ErrNoSignal means the modem hears no network at all.
	ErrNoSignal = errors.New("at: no signal")
	// ErrWiFi means an ESP-AT module could not join the configured
	// Wi-Fi network.
	ErrWiFi = errors.New("at: Wi-Fi join failed")
	// ErrAttach means the packet data context (or TCP/IP service) could
	// not be activated.
	ErrAttach = errors.New("at: data attach failed")
)

// SetupError is a failed bring-up step. Kind is one of the sentinels above;
// Err is the underlying modem error, if any.
type SetupError struct {
	Kind error
	// Msg names the cause and the fix, for the user.
	Msg string
	// Denied is set for ErrNotRegistered when the network refused the
	// registration (stat 3), as opposed to still searching.
	Denied bool
	Err    error
}

func (e *SetupError) Error() string {
	if e.Err != nil {
		return "at: " + e.Msg + " (" + e.Err.Error() + ")"
	}
	return "at: " + e.Msg
}

func (e *SetupError) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Kind, e.Err}
	}
	return []error{e.Kind}
}

// RebootError is the error of every socket of a modem that rebooted (a boot
// banner such as RDY or ready arrived unasked). It wraps
// driver.ErrBadConn: the connection is gone for good, dial again.
type RebootError struct {
	// Banner is the boot line seen ("RDY").
	Banner string
}

func (e *RebootError) Error() string {
	return fmt.Sprintf("at: the modem rebooted (it sent %q); its sockets are gone: %v", e.Banner, driver.ErrBadConn)
}

func (e *RebootError) Unwrap() error { return driver.ErrBadConn }

// errModemGone is the error of the sockets of a modem whose port failed or
// that was closed.
func errModemGone(cause error) error {
	return fmt.Errorf("%w: the modem is gone: %w", driver.ErrBadConn, cause)
}

// ErrSendFull is wrapped by a dialect's Send when the module's buffer is
// full and nothing was sent (Quectel and ESP "SEND FAIL"): the socket
// waits for it to drain and sends again.
var ErrSendFull = errors.New("at: the module's send buffer is full")
