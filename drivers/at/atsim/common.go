package atsim

import (
	"fmt"
	"strings"
)

// commonHandler returns the handler of a 27.007 / V.250 command that the
// cellular dialects share. ESP-AT knows only AT and ATE.
func (m *Modem) commonHandler(name string) (handler, bool) {
	if m.cfg.Dialect == DialectESP && name != "" && name != "E" {
		return nil, false
	}
	switch name {
	case "", "V", "Q", "&F", "&W", "&D", "&C", "&K", "Z", "S", "X":
		return func(*command) reply { return ok() }, true
	case "E":
		return func(c *command) reply {
			if c.num > 1 {
				return errorReply()
			}
			m.echo = c.num == 1
			return ok()
		}, true
	case "I", "+CGMI", "+GMI", "+CGMM", "+GMM", "+CGMR", "+GMR", "+CGSN", "+GSN", "+CIMI", "+CCID", "+QCCID", "+ICCID":
		return func(c *command) reply {
			if c.kind == kindTest {
				return ok()
			}
			if (name == "+CIMI" || strings.Contains(name, "CCID")) && m.sim != SIMReady {
				return m.simErrorLocked()
			}
			lines, found := m.d.info(name)
			if !found {
				return m.unknownLocked()
			}
			return ok(lines...)
		}, true
	case "+CMEE":
		return m.cmdCMEE, true
	case "+CPIN":
		return m.cmdCPIN, true
	case "+CSQ":
		return func(*command) reply { return ok(fmt.Sprintf("+CSQ: %d,99", m.signal)) }, true
	case "+CREG", "+CGREG", "+CEREG":
		return func(c *command) reply { return m.cmdReg(name, c) }, true
	case "+CGATT":
		return m.cmdCGATT, true
	case "+CFUN":
		return m.cmdCFUN, true
	case "+COPS":
		return func(c *command) reply {
			if c.kind == kindRead {
				if !m.reg.registered() {
					return ok("+COPS: 0")
				}
				// <AcT> is the personality's: 8 is LTE Cat-M1 on
				// the BG96 (Quectel BG96 AT commands manual,
				// AT+COPS), 7 E-UTRAN on SIM7600 and SARA-R4.
				return ok(fmt.Sprintf(`+COPS: 0,0,"iotd sim",%d`, m.d.act()))
			}
			return ok()
		}, true
	case "+CGDCONT":
		return m.cmdCGDCONT, true
	case "+CGACT":
		return m.cmdCGACT, true
	case "+CGPADDR":
		return func(*command) reply {
			var lines []string
			for _, id := range sortedKeys(m.pdp) {
				ip := m.pdp[id].ip
				if !m.pdp[id].active {
					ip = "0.0.0.0"
				}
				lines = append(lines, fmt.Sprintf(`+CGPADDR: %d,"%s"`, id, ip))
			}
			return ok(lines...)
		}, true
	case "+CGAUTH", "+IPR", "+IFC", "+CTZU", "+CMGF", "+CSCS":
		return func(*command) reply { return ok() }, true
	case "+CCLK":
		return func(c *command) reply {
			if c.kind == kindRead {
				return ok(`+CCLK: "26/11/26,14:30:00+32"`)
			}
			return ok()
		}, true
	}
	return nil, false
}

func (m *Modem) cmdCMEE(c *command) reply {
	switch c.kind {
	case kindRead:
		return ok(fmt.Sprintf("+CMEE: %d", m.cmee))
	case kindTest:
		return ok("+CMEE: (0-2)")
	case kindSet:
		n, good := c.int(0)
		if !good || n < 0 || n > 2 {
			return errorReply()
		}
		m.cmee = n
		return ok()
	}
	m.cmee = 0
	return ok()
}

// simErrorLocked is the error of a command that needs a ready SIM.
func (m *Modem) simErrorLocked() reply {
	switch m.sim {
	case SIMAbsent:
		return m.cmeLocked(10)
	case SIMPIN:
		return m.cmeLocked(11)
	}
	return m.cmeLocked(13)
}

func (m *Modem) cmdCPIN(c *command) reply {
	switch c.kind {
	case kindRead:
		switch m.sim {
		case SIMReady:
			return ok("+CPIN: READY")
		case SIMPIN:
			return ok("+CPIN: SIM PIN")
		}
		return m.cmeLocked(10)
	case kindSet:
		if m.sim == SIMAbsent {
			return m.cmeLocked(10)
		}
		if m.sim == SIMReady {
			return m.cmeLocked(3)
		}
		if c.str(0) != m.cfg.PIN {
			return m.cmeLocked(16)
		}
		m.sim = SIMReady
		r := ok()
		r.after = func() { m.urcLocked("+CPIN: READY") }
		return r
	case kindTest:
		return ok()
	}
	return errorReply()
}

// regStat is the registration state as the modem sees it (no SIM, no
// radio: not registered).
func (m *Modem) regStat() RegState {
	if m.sim != SIMReady || m.cfun != 1 {
		return RegNone
	}
	return m.reg
}

func (m *Modem) cmdReg(name string, c *command) reply {
	switch c.kind {
	case kindRead:
		n := m.regURC[name]
		st := m.regStat().stat()
		if n >= 2 && (st == 1 || st == 5) {
			return ok(fmt.Sprintf(`%s: %d,%d,"1A2B","01C2D3E4",%d`, name, n, st, m.d.act()))
		}
		return ok(fmt.Sprintf("%s: %d,%d", name, n, st))
	case kindTest:
		return ok(name + ": (0-2)")
	case kindSet:
		n, good := c.int(0)
		if !good || n < 0 || n > 5 {
			return m.cmeLocked(50)
		}
		m.regURC[name] = n
		return ok()
	}
	return ok()
}

func (m *Modem) cmdCGATT(c *command) reply {
	attached := m.regStat().registered()
	switch c.kind {
	case kindRead:
		return ok(fmt.Sprintf("+CGATT: %d", b2i(attached)))
	case kindSet:
		n, good := c.int(0)
		if !good || n < 0 || n > 1 {
			return m.cmeLocked(50)
		}
		if n == 1 && !attached {
			return m.cmeLocked(30)
		}
		return ok()
	}
	return ok("+CGATT: (0,1)")
}

func (m *Modem) cmdCFUN(c *command) reply {
	switch c.kind {
	case kindRead:
		return ok(fmt.Sprintf("+CFUN: %d", m.cfun))
	case kindSet:
		n, good := c.int(0)
		rst, good2 := c.intOr(1, 0)
		if !good || !good2 || (n != 0 && n != 1 && n != 4) {
			return m.cmeLocked(50)
		}
		if rst == 1 {
			// reset: OK, then the module reboots
			m.respondLocked(ok())
			m.rebootLocked()
			return reply{}
		}
		m.cfun = n
		if n != 1 {
			m.dropSocketsLocked()
			for _, p := range m.pdp {
				p.active = false
			}
		}
		return ok()
	}
	return ok("+CFUN: (0,1,4),(0,1)")
}

func (m *Modem) cmdCGDCONT(c *command) reply {
	switch c.kind {
	case kindRead:
		var lines []string
		for _, id := range sortedKeys(m.pdp) {
			lines = append(lines, fmt.Sprintf(`+CGDCONT: %d,"IP","%s","0.0.0.0",0,0`, id, m.pdp[id].apn))
		}
		return ok(lines...)
	case kindSet:
		id, good := c.int(0)
		if !good || id < 1 || id > 16 {
			return m.cmeLocked(50)
		}
		p := m.ctxLocked(id)
		p.apn = c.str(2)
		return ok()
	}
	return ok()
}

// ctxLocked returns PDP context id, creating it.
func (m *Modem) ctxLocked(id int) *pdpCtx {
	p, found := m.pdp[id]
	if !found {
		p = &pdpCtx{ip: fmt.Sprintf("10.0.0.%d", 1+id)}
		m.pdp[id] = p
	}
	return p
}

func (m *Modem) cmdCGACT(c *command) reply {
	switch c.kind {
	case kindRead:
		var lines []string
		for _, id := range sortedKeys(m.pdp) {
			lines = append(lines, fmt.Sprintf("+CGACT: %d,%d", id, b2i(m.pdp[id].active)))
		}
		return ok(lines...)
	case kindSet:
		st, good := c.int(0)
		id, good2 := c.intOr(1, 1)
		if !good || !good2 || st < 0 || st > 1 || id < 1 || id > 16 {
			return m.cmeLocked(50)
		}
		if st == 1 && !m.regStat().registered() {
			return m.cmeLocked(30)
		}
		m.ctxLocked(id).active = st == 1
		if st == 0 {
			m.dropSocketsLocked()
		}
		return ok()
	}
	return ok()
}

// pdpActiveLocked reports whether any PDP context is active.
func (m *Modem) pdpActiveLocked() bool {
	for _, p := range m.pdp {
		if p.active {
			return true
		}
	}
	return false
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
