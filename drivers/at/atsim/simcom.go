package atsim

import (
	"fmt"
	"strings"
	"time"
)

// SIMCom SIM7600 limits (AT-MODEMS.md §1.5).
const (
	simcomMaxLinks = 10
	simcomMaxSend  = 1500
	simcomMaxRead  = 1500
)

type simcom struct {
	m       *Modem
	netOpen bool
	manual  bool // AT+CIPRXGET=1: pull mode
	header  int  // AT+CIPCCFG HeaderType: 1 gives +RECEIVE,<link>,<len>
	srip    bool // AT+CIPSRIP=1: RECV FROM:<ip>:<port> before pushed data
}

func newSIMCom(m *Modem) dialect { return &simcom{m: m} }

func (d *simcom) reset() { d.netOpen, d.manual, d.header, d.srip = false, false, 0, false }

// previousSession: the network was opened and manual receive chosen.
func (d *simcom) previousSession() {
	d.netOpen, d.manual = true, true
	d.m.ctxLocked(1).active = true
}

func (d *simcom) banner() []unit {
	us := []unit{line("RDY")}
	switch d.m.sim {
	case SIMReady:
		return append(us, line("+CPIN: READY"), line("SMS DONE"), line("PB DONE"))
	case SIMPIN:
		return append(us, line("+CPIN: SIM PIN"))
	}
	return append(us, line("+CPIN: SIM REMOVED"))
}

func (d *simcom) noise() string              { return "+CTZV: 32,0" }
func (d *simcom) escapes() bool              { return false }
func (d *simcom) promptGuard() time.Duration { return 0 }
func (d *simcom) act() int                   { return 7 }

func (d *simcom) info(name string) ([]string, bool) {
	switch name {
	case "I":
		return []string{"Manufacturer: SIMCOM INCORPORATED", "Model: SIMCOM_SIM7600E-H",
			"Revision: SIM7600M22_V1.1", "IMEI: 861234050000001", "+GCAP: +CGSM"}, true
	case "+CGMI", "+GMI":
		return []string{"SIMCOM INCORPORATED"}, true
	case "+CGMM", "+GMM":
		return []string{"SIMCOM_SIM7600E-H"}, true
	case "+CGMR", "+GMR":
		return []string{"+CGMR: LE20B04SIM7600M22"}, true
	case "+CGSN", "+GSN":
		return []string{"861234050000001"}, true
	case "+CIMI":
		return []string{"460001234567891"}, true
	case "+CCID", "+ICCID":
		return []string{"+ICCID: 89860012345678901235"}, true
	}
	return nil, false
}

func (d *simcom) handler(name string) (handler, bool) {
	m := d.m
	switch name {
	case "+NETOPEN":
		return d.netopen, true
	case "+NETCLOSE":
		return d.netclose, true
	case "+IPADDR":
		return func(*command) reply {
			if !d.netOpen {
				return reply{units: []unit{line("+IP ERROR: Network not opened")}, final: "ERROR"}
			}
			return ok("+IPADDR: " + m.ctxLocked(1).ip)
		}, true
	case "+CICCID":
		return func(*command) reply {
			if m.sim != SIMReady {
				return m.simErrorLocked()
			}
			return ok("+ICCID: 89860012345678901235")
		}, true
	case "+CIPOPEN":
		return d.cipopen, true
	case "+CIPSEND":
		return d.cipsend, true
	case "+CIPCLOSE":
		return d.cipclose, true
	case "+CIPRXGET":
		return d.ciprxget, true
	case "+CIPCCFG":
		return func(c *command) reply {
			if c.kind == kindSet && c.has(4) {
				n, good := c.int(4)
				if !good || n < 0 || n > 1 {
					return errorReply()
				}
				d.header = n
			}
			return ok()
		}, true
	case "+CIPSRIP":
		return func(c *command) reply {
			n, good := c.int(0)
			if c.kind == kindSet && (!good || n < 0 || n > 1) {
				return errorReply()
			}
			d.srip = n == 1
			return ok()
		}, true
	case "+CIPMODE":
		return func(c *command) reply {
			if n, good := c.int(0); c.kind == kindSet && (!good || n != 0) {
				return errorReply() // transparent mode is not simulated
			}
			return ok()
		}, true
	case "+CIPSENDMODE", "+CIPTIMEOUT", "+CIPHEAD", "+CSOCKSETPN", "+CNMP", "+CNBP":
		return func(*command) reply { return ok() }, true
	case "+CDNSGIP":
		return d.cdnsgip, true
	}
	return nil, false
}

// netopen: OK, then +NETOPEN: 0 (or an error number).
func (d *simcom) netopen(c *command) reply {
	m := d.m
	if c.kind == kindRead {
		return ok(fmt.Sprintf("+NETOPEN: %d", b2i(d.netOpen)))
	}
	if d.netOpen {
		return reply{units: []unit{line("+IP ERROR: Network is already opened")}, final: "ERROR"}
	}
	code := 0
	if !m.regStat().registered() {
		code = 1
	} else {
		d.netOpen = true
		m.ctxLocked(1).active = true
	}
	r := ok()
	r.after = func() { m.urcLocked(fmt.Sprintf("+NETOPEN: %d", code)) }
	return r
}

func (d *simcom) netclose(*command) reply {
	m := d.m
	if !d.netOpen {
		return reply{units: []unit{line("+NETCLOSE: 2")}, final: "ERROR"}
	}
	d.netOpen = false
	m.ctxLocked(1).active = false
	m.dropSocketsLocked()
	r := ok()
	r.after = func() { m.urcLocked("+NETCLOSE: 0") }
	return r
}

// cipopen: AT+CIPOPEN=<link>,"TCP",<host>,<port> | <link>,"UDP",,,<lport>;
// OK, then +CIPOPEN: <link>,<err>.
func (d *simcom) cipopen(c *command) reply {
	m := d.m
	if c.kind == kindRead {
		var lines []string
		for id := range simcomMaxLinks {
			if s, found := m.socks[id]; found && s.open {
				lines = append(lines, fmt.Sprintf(`+CIPOPEN: %d,"%s","%s",%d,-1`, id, s.proto, hostOf(s.remote), s.port))
			} else {
				lines = append(lines, fmt.Sprintf("+CIPOPEN: %d", id))
			}
		}
		return ok(lines...)
	}
	id, good := c.int(0)
	typ := strings.ToUpper(c.str(1))
	if c.kind != kindSet || !good || id < 0 || id >= simcomMaxLinks || (typ != "TCP" && typ != "UDP") {
		return errorReply()
	}
	result := func(code int) reply {
		r := ok()
		r.after = func() { m.urcLocked(fmt.Sprintf("+CIPOPEN: %d,%d", id, code)) }
		return r
	}
	if !d.netOpen {
		return result(2)
	}
	if _, used := m.socks[id]; used {
		return result(4)
	}
	s := &sock{id: id, proto: typ, mode: b2i(d.manual)}
	if typ == "UDP" {
		if err := m.listenUDPLocked(s); err != nil {
			return result(5)
		}
		m.socks[id] = s
		return result(0)
	}
	port, good := c.int(3)
	if !good || port < 1 || port > 65535 || c.str(2) == "" {
		return errorReply()
	}
	s.host, s.port = c.str(2), port
	m.socks[id] = s
	r := ok()
	r.after = func() {
		m.goAsync(func() {
			m.mu.Lock()
			defer m.mu.Unlock()
			if s.dead || m.closed {
				return
			}
			kind, alive := m.dialLocked(s, "tcp", s.host, port)
			if !alive {
				return
			}
			code := 0
			switch kind {
			case dialDNS:
				code = 11
			case dialTimeout:
				code = 10
			case dialRefused, dialOther:
				code = 1
			}
			if code != 0 {
				delete(m.socks, id)
			}
			m.urcLocked(fmt.Sprintf("+CIPOPEN: %d,%d", id, code))
		})
	}
	return r
}

// cipsend: AT+CIPSEND=<link>,<len>[,"<ip>",<port>] → ">" → data → OK,
// then +CIPSEND: <link>,<requested>,<sent>.
func (d *simcom) cipsend(c *command) reply {
	m := d.m
	id, good := c.int(0)
	n, good2 := c.int(1)
	if c.kind != kindSet || !good || !good2 || n < 1 || n > simcomMaxSend {
		return errorReply()
	}
	s, found := m.socks[id]
	if !found || !s.open || s.peerGone {
		return errorReply()
	}
	addr := ""
	if s.pconn != nil {
		port, good := c.int(3)
		if !good || c.str(2) == "" {
			return errorReply()
		}
		addr = fmt.Sprintf("%s:%d", c.str(2), port)
	}
	if m.takeLostPrompt() {
		return reply{}
	}
	dm := &dataMode{need: n}
	dm.done = func(data []byte) reply {
		if s.dead {
			return errorReply()
		}
		err, alive := m.writeSockLocked(s, data, addr)
		if !alive {
			return reply{}
		}
		sent := len(data)
		if err != nil {
			sent = 0
		} else {
			m.countSendLocked(len(data))
		}
		r := ok()
		r.after = func() { m.urcLocked(fmt.Sprintf("+CIPSEND: %d,%d,%d", id, len(data), sent)) }
		return r
	}
	return reply{prompt: "\r\n>", data: dm}
}

func (d *simcom) cipclose(c *command) reply {
	m := d.m
	if c.kind == kindRead {
		f := make([]string, simcomMaxLinks)
		for id := range f {
			s, found := m.socks[id]
			f[id] = fmt.Sprint(b2i(found && s.open))
		}
		return ok("+CIPCLOSE: " + strings.Join(f, ","))
	}
	id, good := c.int(0)
	s, found := m.socks[id]
	if c.kind != kindSet || !good || !found {
		return errorReply()
	}
	m.closeSockLocked(s)
	r := ok()
	r.after = func() { m.urcLocked(fmt.Sprintf("+CIPCLOSE: %d,0", id)) }
	return r
}

// ciprxget: =0|1 sets push or manual mode; =2,<link>[,<len>] reads,
// =3 reads as hex, =4,<link> tells what is buffered.
func (d *simcom) ciprxget(c *command) reply {
	m := d.m
	if c.kind == kindRead {
		return ok(fmt.Sprintf("+CIPRXGET: %d", b2i(d.manual)))
	}
	mode, good := c.int(0)
	if c.kind != kindSet || !good {
		return errorReply()
	}
	if mode == 0 || mode == 1 {
		d.manual = mode == 1
		for _, s := range m.socks {
			s.mode = mode
		}
		return ok()
	}
	id, good := c.int(1)
	s, found := m.socks[id]
	if !good || !found || s.mode != 1 {
		return errorReply()
	}
	switch mode {
	case 4:
		return ok(fmt.Sprintf("+CIPRXGET: 4,%d,%d", id, s.avail()))
	case 2, 3:
		limit := simcomMaxRead
		if mode == 3 {
			limit /= 2
		}
		n, good := c.intOr(2, limit)
		if !good || n < 1 || n > limit {
			return errorReply()
		}
		data, _ := s.take(n)
		m.cond.Broadcast()
		hdr := fmt.Sprintf("+CIPRXGET: %d,%d,%d,%d", mode, id, len(data), s.avail())
		r := reply{final: "OK"}
		switch {
		case len(data) == 0:
			r.units = []unit{line(hdr)}
		case mode == 3:
			r.units = []unit{line(hdr), unit(hexUpper(data) + "\r\n")}
		default:
			r.units = []unit{concat([]byte("\r\n"+hdr+"\r\n"), data, []byte("\r\n"))}
		}
		if s.avail() == 0 {
			s.notified = false
			if s.peerGone {
				r.after = func() { m.closeSockLocked(s) }
			}
		}
		return r
	}
	return errorReply()
}

func (d *simcom) cdnsgip(c *command) reply {
	m := d.m
	name := c.str(0)
	if c.kind != kindSet || name == "" {
		return errorReply()
	}
	var ip string
	var err error
	if !m.unlocked(func() { ip, err = m.resolve(name) }) {
		return reply{}
	}
	if err != nil {
		return reply{units: []unit{line("+CDNSGIP: 0,10")}, final: "ERROR"}
	}
	return ok(fmt.Sprintf(`+CDNSGIP: 1,"%s","%s"`, name, ip))
}

// dataArrived: push mode sends +IPD<len> (or +RECEIVE,<link>,<len>) and
// the data; manual mode notifies +CIPRXGET: 1,<link> once.
func (d *simcom) dataArrived(s *sock) {
	m := d.m
	if s.mode == 1 {
		if !s.notified {
			s.notified = true
			m.urcLocked(fmt.Sprintf("+CIPRXGET: 1,%d", s.id))
		}
		return
	}
	for s.avail() > 0 {
		data, addr := s.take(simcomMaxRead)
		var hdr string
		if d.srip {
			hdr = fmt.Sprintf("\r\nRECV FROM:%s\r\n", addr)
		}
		if d.header == 1 {
			hdr += fmt.Sprintf("\r\n+RECEIVE,%d,%d\r\n", s.id, len(data))
		} else {
			hdr += fmt.Sprintf("\r\n+IPD%d\r\n", len(data))
		}
		m.emitLocked(concat([]byte(hdr), data))
	}
}

// peerClosed: +IPCLOSE: <link>,1; in manual mode buffered data can
// still be read, after which the link is free.
func (d *simcom) peerClosed(s *sock) {
	m := d.m
	s.open = false
	m.urcLocked(fmt.Sprintf("+IPCLOSE: %d,1", s.id))
	if s.avail() == 0 {
		m.closeSockLocked(s)
	}
}

// bearerLost: the network closed the PDP context.
func (d *simcom) bearerLost() {
	m := d.m
	if !d.netOpen {
		return
	}
	d.netOpen = false
	m.ctxLocked(1).active = false
	for _, id := range sortedKeys(m.socks) {
		m.closeSockLocked(m.socks[id])
		m.urcLocked(fmt.Sprintf("+IPCLOSE: %d,2", id))
	}
	m.urcLocked("+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY")
}
