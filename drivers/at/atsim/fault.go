package atsim

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// FaultKind names a fault.
type FaultKind int

// Faults. Fragment, URCInResponse, Garbage and NonATError stay on until
// cleared; Reboot, Stall, LostPrompt, BearerLoss, HalfTyped,
// RebootMidCommand and StaleSockets act once.
const (
	// Fragment cuts every output write into fragments of 1..8 bytes with
	// pauses of up to 2 ms between them, splitting headers, prompts and
	// data anywhere.
	Fragment FaultKind = iota + 1
	// URCInResponse puts an unsolicited line (Fault.URC, or the dialect's
	// harmless default) between the lines of every multi-line response
	// and before every data prompt.
	URCInResponse
	// Reboot restarts the module now: every socket's TCP connection is
	// closed, pending output is lost, the boot banner is printed and the
	// settings return to power-on (echo on, CMEE 0, PDP down, Wi-Fi off).
	Reboot
	// Stall stops the module for Fault.Duration: input is discarded and
	// nothing is sent (URCs due are sent afterwards).
	Stall
	// Garbage sends a line of 1..16 random bytes (never CR, LF, '>' or
	// '@') after every final result.
	Garbage
	// LostPrompt loses the next send command: no prompt and no answer
	// come, the module stays in command mode.
	LostPrompt
	// BearerLoss drops the data bearer now, as the network or the AP
	// would: every socket's connection is closed and the module says so
	// its own way (Quectel +QIURC: "pdpdeact",<ctx>; ESP <id>,CLOSED and
	// WIFI DISCONNECT; SIMCom +CIPEVENT: NETWORK CLOSED UNEXPECTEDLY;
	// u-blox +UUSOCL per socket and +UUPSDD: 0; SIM800 +PDP: DEACT only,
	// the stack then in PDP DEACT until AT+CIPSHUT).
	BearerLoss
	// HalfTyped leaves Fault.Text ("AT+CS" when empty) in the module's
	// command buffer, as a host that died while typing a command leaves
	// it: the next line end completes the line, and the module answers
	// that (usually ERROR) as well as whatever followed.
	HalfTyped
	// NonATError makes the module answer ERROR to a line that holds no
	// AT command (ESC and CR, line noise) instead of ignoring it as V.250
	// modems do. The ESP personality always does, as ESP-AT answers any
	// input that is no command with ERROR (or busy).
	NonATError
	// RebootMidCommand reboots the module once it has read (and echoed)
	// the next command line that starts with Fault.Command, in any case
	// ("AT+QIACT", "AT+CIPOPEN=" for the set command only; empty: any
	// line), before answering it: the command gets no answer and the
	// boot banner follows.
	RebootMidCommand
	// StaleSockets puts the module where a host that crashed mid-session
	// leaves it: registered, data context (or Wi-Fi and multi-link mode)
	// up, and socket ids 0..Fault.Sockets-1 (1 when 0) held, connected to
	// a peer that says nothing, until the host closes them. Opening such
	// an id fails as the module does (Quectel 563, SIMCom 4, ESP-AT
	// ALREADY CONNECTED, SIM800 "<n>, ALREADY CONNECT"; u-blox runs out
	// of sockets at seven).
	StaleSockets
)

var faultNames = map[FaultKind]string{
	Fragment: "fragment", URCInResponse: "urc", Reboot: "reboot",
	Stall: "stall", Garbage: "garbage", LostPrompt: "lostprompt", BearerLoss: "bearerloss",
	HalfTyped: "halftyped", NonATError: "nonaterror", RebootMidCommand: "rebootmid",
	StaleSockets: "stalesockets",
}

// DefaultHalfTyped is what HalfTyped leaves in the buffer by default.
const DefaultHalfTyped = "AT+CS"

func (k FaultKind) String() string {
	if s, ok := faultNames[k]; ok {
		return s
	}
	return fmt.Sprintf("fault(%d)", int(k))
}

// ParseFault parses a fault name as the CLI takes it: "fragment", "urc",
// "reboot", "stall" (1 s) or "stall=2s", "garbage", "lostprompt",
// "bearerloss", "halftyped[=TEXT]", "nonaterror", "rebootmid[=COMMAND]",
// "stalesockets[=N]".
func ParseFault(s string) (Fault, error) {
	name, val, hasVal := strings.Cut(strings.TrimSpace(s), "=")
	for k, n := range faultNames {
		if !strings.EqualFold(name, n) {
			continue
		}
		f := Fault{Kind: k}
		switch {
		case k == Stall && hasVal:
			d, err := time.ParseDuration(val)
			if err != nil || d <= 0 {
				return Fault{}, fmt.Errorf("atsim: fault %q: want a positive duration such as stall=2s", s)
			}
			f.Duration = d
		case k == Stall:
			f.Duration = time.Second
		case k == URCInResponse && hasVal:
			f.URC = val
		case k == HalfTyped && hasVal:
			f.Text = val
		case k == RebootMidCommand && hasVal:
			f.Command = val
		case k == StaleSockets && hasVal:
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 || n > maxStaleSockets {
				return Fault{}, fmt.Errorf("atsim: fault %q: want a socket count 1..%d such as stalesockets=2", s, maxStaleSockets)
			}
			f.Sockets = n
		case hasVal:
			return Fault{}, fmt.Errorf("atsim: fault %q takes no value", name)
		}
		if err := f.validate(); err != nil {
			return Fault{}, fmt.Errorf("atsim: fault %q: %w", s, err)
		}
		return f, nil
	}
	return Fault{}, fmt.Errorf("atsim: unknown fault %q: use fragment, urc, reboot, stall[=DURATION], garbage, lostprompt, bearerloss, halftyped[=TEXT], nonaterror, rebootmid[=COMMAND] or stalesockets[=N]", s)
}

// Fault is one injected fault.
type Fault struct {
	Kind FaultKind
	// Duration of a Stall.
	Duration time.Duration
	// URC is the line URCInResponse inserts; "" means the dialect's.
	URC string
	// Text is what HalfTyped leaves in the command buffer; "" means
	// DefaultHalfTyped.
	Text string
	// Command starts the command line RebootMidCommand reboots on; ""
	// means the next command line.
	Command string
	// Sockets is how many ids StaleSockets holds (0 means 1).
	Sockets int
}

// maxStaleSockets bounds Fault.Sockets: the most socket ids of any
// dialect (Quectel's twelve); a dialect with fewer holds all of its own.
const maxStaleSockets = 12

func (f Fault) validate() error {
	if _, ok := faultNames[f.Kind]; !ok {
		return fmt.Errorf("unknown fault kind %d", int(f.Kind))
	}
	if f.Kind == Stall && f.Duration <= 0 {
		return fmt.Errorf("stall without a duration: set Fault.Duration")
	}
	if strings.ContainsAny(f.URC, "\r\n") {
		return fmt.Errorf("URC line %q contains a line end", f.URC)
	}
	if strings.ContainsAny(f.Text, "\r\n") || len(f.Text) > maxLineLen {
		return fmt.Errorf("half-typed text %q contains a line end or is too long", f.Text)
	}
	if f.Sockets < 0 || f.Sockets > maxStaleSockets {
		return fmt.Errorf("stale sockets: %d, want 1..%d", f.Sockets, maxStaleSockets)
	}
	return nil
}

// faults is the state of the continuous faults; guarded by Modem.mu.
type faults struct {
	fragment   bool
	urc        bool
	urcText    string
	garbage    bool
	lostPrompt bool
	nonATError bool
	rebootMid  bool   // armed
	rebootCmd  string // upper case; "" for any line
}

// Inject applies f at once: continuous faults switch on, Reboot and Stall
// happen now, LostPrompt arms for the next send command.
func (m *Modem) Inject(f Fault) error {
	if err := f.validate(); err != nil {
		return fmt.Errorf("atsim: inject: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.injectLocked(f)
	return nil
}

func (m *Modem) injectLocked(f Fault) {
	switch f.Kind {
	case Fragment:
		m.fault.fragment = true
	case URCInResponse:
		m.fault.urc, m.fault.urcText = true, f.URC
	case Garbage:
		m.fault.garbage = true
	case LostPrompt:
		m.fault.lostPrompt = true
	case NonATError:
		m.fault.nonATError = true
	case HalfTyped:
		text := f.Text
		if text == "" {
			text = DefaultHalfTyped
		}
		m.line = append(m.line[:0], text...)
	case RebootMidCommand:
		m.fault.rebootMid = true
		m.fault.rebootCmd = strings.ToUpper(f.Command)
	case StaleSockets:
		m.staleSocketsLocked(max(f.Sockets, 1))
	case Reboot:
		m.rebootLocked()
	case BearerLoss:
		m.log.Debug("atsim: bearer lost")
		m.d.bearerLost()
		m.cond.Broadcast()
	case Stall:
		until := time.Now().Add(f.Duration)
		if until.After(m.stallUntil) {
			m.stallUntil = until
		}
		m.log.Debug("atsim: stalled", "for", f.Duration)
	}
}

// Clear switches a continuous fault (or an armed LostPrompt) off.
func (m *Modem) Clear(k FaultKind) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch k {
	case Fragment:
		m.fault.fragment = false
	case URCInResponse:
		m.fault.urc = false
	case Garbage:
		m.fault.garbage = false
	case LostPrompt:
		m.fault.lostPrompt = false
	case NonATError:
		m.fault.nonATError = false
	case RebootMidCommand:
		m.fault.rebootMid = false
	}
}

// takeRebootMid reports (once) that the armed RebootMidCommand fault
// matches command line l.
func (m *Modem) takeRebootMid(l string) bool {
	if !m.fault.rebootMid || !strings.HasPrefix(strings.ToUpper(strings.TrimSpace(l)), m.fault.rebootCmd) {
		return false
	}
	m.fault.rebootMid = false
	m.log.Debug("atsim: reboot mid-command (fault)")
	return true
}

// answersNonAT reports whether a line with no AT command gets ERROR.
func (m *Modem) answersNonAT() bool {
	return m.fault.nonATError || m.cfg.Dialect == DialectESP
}

// garbageLine is a line of random non-AT bytes; m.mu held.
func (m *Modem) garbageLine() []byte {
	n := 1 + m.rng.IntN(16)
	b := make([]byte, 0, n+2)
	for len(b) < n {
		c := byte(m.rng.IntN(256))
		if c == '\r' || c == '\n' || c == '>' || c == '@' {
			continue
		}
		b = append(b, c)
	}
	return append(b, '\r', '\n')
}
