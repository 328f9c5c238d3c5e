package atsim

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// Dialects served by the simulator.
const (
	DialectESP     = "esp"
	DialectQuectel = "quectel"
	DialectSIMCom  = "simcom"
	DialectUBlox   = "ublox"
)

// Dialects lists the dialect names [Config.Dialect] accepts.
func Dialects() []string {
	return []string{DialectESP, DialectQuectel, DialectSIMCom, DialectUBlox, DialectTencent, DialectSIM800}
}

// SIMState is the state of the simulated SIM card.
type SIMState int

// SIM states. The zero value is a ready SIM.
const (
	SIMReady  SIMState = iota // +CPIN: READY
	SIMAbsent                 // +CME ERROR: 10 (SIM not inserted)
	SIMPIN                    // +CPIN: SIM PIN until AT+CPIN="<Config.PIN>"
)

// RegState is the network registration state (the <stat> of +CREG,
// +CGREG and +CEREG). The zero value is registered on the home network.
type RegState int

// Registration states.
const (
	RegHome      RegState = iota // stat 1
	RegRoaming                   // stat 5
	RegSearching                 // stat 2
	RegDenied                    // stat 3
	RegNone                      // stat 0: not registered, not searching
)

// stat is the 27.007 <stat> number.
func (r RegState) stat() int {
	switch r {
	case RegRoaming:
		return 5
	case RegSearching:
		return 2
	case RegDenied:
		return 3
	case RegNone:
		return 0
	}
	return 1
}

func (r RegState) registered() bool { return r == RegHome || r == RegRoaming }

// AP is a Wi-Fi network in range of the simulated ESP module.
type AP struct {
	SSID string
	// Password the AP accepts; "" accepts any.
	Password string
	// RSSI in dBm; 0 means -50.
	RSSI int
}

// DefaultPIN is the PIN a SIM in state SIMPIN accepts when Config.PIN is
// empty.
const DefaultPIN = "1234"

// DefaultDialTimeout bounds a socket connect when Config.DialTimeout is 0.
const DefaultDialTimeout = 10 * time.Second

// Config configures a simulated modem. Only Dialect is required.
type Config struct {
	// Dialect is "esp", "quectel", "simcom", "ublox", "tencent" or "sim800".
	Dialect string
	// Baud, when > 0, paces output and input to Baud/10 bytes per second
	// (8N1) like a real UART: a byte is taken, or handed to the host, when
	// the line has carried it, and a busy line carries bytes back to back
	// (BenchmarkLineRate measures both directions). 0 means unthrottled.
	Baud int
	// SIM is the SIM card's state; PIN the PIN it wants (DefaultPIN).
	SIM SIMState
	PIN string
	// Reg is the registration state on all of CREG, CGREG and CEREG.
	Reg RegState
	// Signal is the +CSQ rssi (0–31, 99 unknown); 0 means 20. Use
	// SetSignal to set 0 at run time.
	Signal int
	// WiFi lists the networks an ESP module can join; empty means any
	// SSID joins with any password.
	WiFi []AP
	// Dial opens a socket's real connection; nil means a net.Dialer.
	// network is "tcp" or "udp", addr is "ip:port".
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// DialTimeout bounds a connect; 0 means DefaultDialTimeout.
	DialTimeout time.Duration
	// APNUser and APNPassword, when either is set, make the simulated
	// network want these credentials for a data context, as an operator's
	// private APN does: the u-blox personality then refuses AT+CGACT=1
	// (and AT+UPSDA=0,3) with +CME ERROR: 149, "PDP authentication
	// failure" (3GPP TS 27.007 §9.2.3), unless AT+UAUTHREQ gave the
	// context exactly these. Other personalities ignore them.
	APNUser, APNPassword string
	// Hosts answers DNS queries (name → IP) before Resolve is asked.
	Hosts map[string]string
	// Resolve answers other DNS queries; nil means net.DefaultResolver.
	Resolve func(ctx context.Context, host string) ([]string, error)
	// PromptGuard is how long after u-blox's "@" prompt data bytes are
	// dropped, as the module drops them; 0 means 50 ms (the manual's
	// minimum wait). Other dialects have no guard.
	PromptGuard time.Duration
	// Faults are injected at start (see Modem.Inject).
	Faults []Fault
	// Seed seeds all randomness (fragment sizes, garbage); equal seeds
	// give equal runs for equal input.
	Seed int64
	// Logger receives debug logs; nil discards them. Socket data and
	// command arguments are never logged.
	Logger *slog.Logger
	// Tencent configures the tencent personality's broker and CAs.
	Tencent TencentConfig
}

// Validate checks c and names the field to fix.
func (c Config) Validate() error {
	switch c.Dialect {
	case DialectESP, DialectQuectel, DialectSIMCom, DialectUBlox, DialectTencent, DialectSIM800:
	case "":
		return fmt.Errorf("atsim: config: no dialect: set Dialect to one of %v", Dialects())
	default:
		return fmt.Errorf("atsim: config: unknown dialect %q: use one of %v", c.Dialect, Dialects())
	}
	if c.Baud < 0 {
		return fmt.Errorf("atsim: config: baud %d is negative: use 0 (unthrottled) or a line rate such as 115200", c.Baud)
	}
	if c.PromptGuard < 0 {
		return fmt.Errorf("atsim: config: prompt guard %v is negative", c.PromptGuard)
	}
	if err := c.Tencent.validate(); err != nil {
		return err
	}
	if c.Signal < 0 || (c.Signal > 31 && c.Signal != 99) {
		return fmt.Errorf("atsim: config: signal %d: the +CSQ rssi is 0..31 or 99 (unknown)", c.Signal)
	}
	for _, f := range c.Faults {
		if err := f.validate(); err != nil {
			return fmt.Errorf("atsim: config: %w", err)
		}
	}
	return nil
}
