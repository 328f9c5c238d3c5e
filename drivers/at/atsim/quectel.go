package atsim

import (
	"fmt"
	"time"
)

// Quectel BG96 limits (AT-MODEMS.md §1.4).
const (
	quectelMaxSockets = 12
	quectelMaxSend    = 1460
	quectelMaxRead    = 1500
)

// Quectel socket states of +QISTATE.
const (
	qStateOpening = 1
	qStateOpen    = 2
	qStateClosing = 4
)

type quectel struct {
	m *Modem
}

func newQuectel(m *Modem) dialect { return &quectel{m: m} }

func (q *quectel) reset() {}

func (q *quectel) banner() []unit {
	m := q.m
	us := []unit{line("RDY"), line("+CFUN: 1")}
	switch m.sim {
	case SIMReady:
		us = append(us, line("+CPIN: READY"), line("+QUSIM: 1"), line("+QIND: SMS DONE"), line("+QIND: PB DONE"))
	case SIMPIN:
		us = append(us, line("+CPIN: SIM PIN"))
	default:
		us = append(us, line("+CPIN: NOT INSERTED"))
	}
	return append(us, line("APP RDY"))
}

func (q *quectel) noise() string              { return fmt.Sprintf(`+QIND: "csq",%d,99`, q.m.signal) }
func (q *quectel) escapes() bool              { return false }
func (q *quectel) promptGuard() time.Duration { return 0 }
func (q *quectel) act() int                   { return 8 }

func (q *quectel) info(name string) ([]string, bool) {
	switch name {
	case "I":
		return []string{"Quectel", "BG96", "Revision: BG96MAR02A07M1G"}, true
	case "+CGMI", "+GMI":
		return []string{"Quectel"}, true
	case "+CGMM", "+GMM":
		return []string{"BG96"}, true
	case "+CGMR", "+GMR":
		return []string{"BG96MAR02A07M1G"}, true
	case "+CGSN", "+GSN":
		return []string{"866425030000001"}, true
	case "+CIMI":
		return []string{"460001234567890"}, true
	case "+QCCID":
		return []string{"+QCCID: 89860012345678901234"}, true
	}
	return nil, false
}

func (q *quectel) handler(name string) (handler, bool) {
	switch name {
	case "+QICSGP":
		return q.qicsgp, true
	case "+QIACT":
		return q.qiact, true
	case "+QIDEACT":
		return q.qideact, true
	case "+QIOPEN":
		return q.qiopen, true
	case "+QISEND":
		return q.qisend, true
	case "+QIRD":
		return q.qird, true
	case "+QICLOSE":
		return q.qiclose, true
	case "+QISTATE":
		return q.qistate, true
	case "+QIDNSGIP":
		return q.qidnsgip, true
	case "+QIGETERROR":
		return func(*command) reply {
			code := q.m.lastErr
			if code == 0 {
				return ok("+QIGETERROR: 0,operation success")
			}
			return ok(fmt.Sprintf("+QIGETERROR: %d,%s", code, cmeText[code]))
		}, true
	case "+QISWTMD":
		return q.qiswtmd, true
	case "+QURCCFG", "+QCFG", "+QICFG", "+QIDNSCFG", "+QINDCFG", "+QSCLK":
		return func(*command) reply { return ok() }, true
	case "+QPOWD":
		return func(*command) reply {
			r := reply{units: []unit{line("POWERED DOWN")}}
			r.after = func() { q.m.rebootLocked() }
			return r
		}, true
	}
	return nil, false
}

func (q *quectel) qicsgp(c *command) reply {
	m := q.m
	id, good := c.int(0)
	if !good || id < 1 || id > 16 {
		return m.cmeLocked(552)
	}
	if len(c.args) == 1 {
		p := m.ctxLocked(id)
		return ok(fmt.Sprintf(`+QICSGP: 1,"%s","","",0`, p.apn))
	}
	m.ctxLocked(id).apn = c.str(2)
	return ok()
}

func (q *quectel) qiact(c *command) reply {
	m := q.m
	switch c.kind {
	case kindRead:
		var lines []string
		for _, id := range sortedKeys(m.pdp) {
			if p := m.pdp[id]; p.active {
				lines = append(lines, fmt.Sprintf(`+QIACT: %d,1,1,"%s"`, id, p.ip))
			}
		}
		return ok(lines...)
	case kindSet:
		id, good := c.int(0)
		if !good || id < 1 || id > 16 {
			return m.cmeLocked(552)
		}
		if !m.regStat().registered() {
			return m.cmeLocked(561)
		}
		m.ctxLocked(id).active = true
		return ok()
	}
	return ok("+QIACT: (1-16)")
}

func (q *quectel) qideact(c *command) reply {
	m := q.m
	id, good := c.int(0)
	if !good || id < 1 || id > 16 {
		return m.cmeLocked(552)
	}
	if p, found := m.pdp[id]; found {
		p.active = false
	}
	for _, s := range m.socks {
		if s.ctx == id {
			m.closeSockLocked(s)
		}
	}
	return ok()
}
