package atsim

import (
	"fmt"
	"maps"
	"time"
)

// handler runs one command with Modem.mu held.
type handler func(c *command) reply

// dialect is one module personality. All methods run with Modem.mu held.
type dialect interface {
	// reset sets the dialect's power-on state.
	reset()
	// banner is what the module prints at boot.
	banner() []unit
	// noise is a harmless URC line for the URCInResponse fault.
	noise() string
	// escapes reports whether quoted strings take backslash escapes.
	escapes() bool
	// promptGuard is how long after a prompt data bytes are dropped.
	promptGuard() time.Duration
	// handler returns the dialect's handler for a command name.
	handler(name string) (handler, bool)
	// info answers the identification commands ("I", "+CGMM", ...).
	info(name string) ([]string, bool)
	// dataArrived is called when socket data was buffered in s.
	dataArrived(s *sock)
	// bearerLost drops the PDP context or Wi-Fi with the module's URCs.
	bearerLost()
	// act is the access technology of +CEREG: 2 (7 LTE, 8 LTE-M...).
	act() int
	// peerClosed is called when s's peer closed or the connection failed.
	peerClosed(s *sock)
}

func newDialect(name string, m *Modem) dialect {
	switch name {
	case DialectESP:
		return newESP(m)
	case DialectSIMCom:
		return newSIMCom(m)
	case DialectUBlox:
		return newUBlox(m)
	case DialectTencent:
		return newTencent(m)
	case DialectSIM800:
		return newSIM800(m)
	}
	return newQuectel(m)
}

// Stats counts what crossed the line; see Modem.Stats.
type Stats struct {
	// BytesIn and BytesOut count bytes received from and sent to the host.
	BytesIn, BytesOut int64
	// Writes counts writes to the pty (the Fragment fault makes many).
	Writes int
	// Commands counts command lines; ByName counts commands by name
	// ("AT+QISEND", "ATE", "AT" for a bare AT).
	Commands int
	ByName   map[string]int
	// Sends counts completed send commands; SendBytes their payload;
	// MaxSend the largest payload one send command carried.
	Sends     int
	SendBytes int64
	MaxSend   int
	// Reboots counts reboots (Fault Reboot, AT+CFUN=1,1, AT+RST).
	Reboots int
	// EarlyData counts bytes dropped because they came before the
	// prompt's guard time (u-blox: 50 ms after "@").
	EarlyData int
}

// Stats returns a snapshot of the counters.
func (m *Modem) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.stats
	s.ByName = maps.Clone(m.stats.ByName)
	return s
}

// Commands returns the last command lines received (up to 4096), oldest
// first, as received (without CR). They may hold secrets the driver sent
// (Wi-Fi passwords): do not log them.
func (m *Modem) Commands() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.cmdLog...)
}

// OpenSockets returns the ids of the sockets the module holds (connected,
// opening, or closed by the peer but not yet freed by the host).
func (m *Modem) OpenSockets() []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []int
	for id := range m.socks {
		ids = append(ids, id)
	}
	return sortedInts(ids)
}

// countSendLocked records a completed send command.
func (m *Modem) countSendLocked(n int) {
	m.stats.Sends++
	m.stats.SendBytes += int64(n)
	m.stats.MaxSend = max(m.stats.MaxSend, n)
}

// cme texts for AT+CMEE=2 (27.007 §9.2 and the vendors' socket codes).
var cmeText = map[int]string{
	3: "operation not allowed", 4: "operation not supported", 10: "SIM not inserted",
	11: "SIM PIN required", 13: "SIM failure", 14: "SIM busy", 16: "incorrect password",
	30: "no network service", 50: "incorrect parameters", 100: "unknown", 149: "PDP authentication failure",
	550: "unknown error", 552: "invalid parameters", 553: "memory not enough",
	555: "operation not supported", 561: "open PDP context failed", 563: "socket identity has been used",
	565: "DNS parse failed", 566: "socket connect failed", 567: "socket has been closed", 572: "operation not allowed",
}

// cmeLocked is an equipment error as AT+CMEE asks: ERROR, a number or a text.
func (m *Modem) cmeLocked(code int) reply {
	switch m.cmee {
	case 1:
		return reply{final: fmt.Sprintf("+CME ERROR: %d", code)}
	case 2:
		t, ok := cmeText[code]
		if !ok {
			t = "unknown"
		}
		return reply{final: "+CME ERROR: " + t}
	}
	return errorReply()
}

// unknownLocked answers a command the module does not know (ESP-AT and
// the SIM800 say ERROR whatever AT+CMEE asks).
func (m *Modem) unknownLocked() reply {
	if m.cfg.Dialect == DialectESP || m.cfg.Dialect == DialectSIM800 {
		return errorReply()
	}
	return m.cmeLocked(4)
}

// syntaxErrorLocked answers a malformed command line.
func (m *Modem) syntaxErrorLocked() reply { return errorReply() }

// takeLostPrompt reports (once) that the LostPrompt fault is armed.
func (m *Modem) takeLostPrompt() bool {
	if m.fault.lostPrompt {
		m.fault.lostPrompt = false
		m.log.Debug("atsim: send prompt lost (fault)")
		return true
	}
	return false
}
