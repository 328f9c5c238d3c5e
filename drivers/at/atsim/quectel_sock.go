package atsim

import (
	"fmt"
	"strings"
)

// qiopen: AT+QIOPEN=<ctx>,<id>,"TCP"|"UDP",<host>,<port>[,<lport>[,<mode>]]
// answers OK at once and +QIOPEN: <id>,<err> when the connect is done.
func (q *quectel) qiopen(c *command) reply {
	m := q.m
	if c.kind == kindTest {
		return ok()
	}
	ctxID, good1 := c.int(0)
	id, good2 := c.int(1)
	port, good3 := c.int(4)
	mode, good4 := c.intOr(6, 0)
	typ := strings.ToUpper(c.str(2))
	if !good1 || !good2 || !good3 || !good4 || id < 0 || id >= quectelMaxSockets ||
		port < 1 || port > 65535 || c.str(3) == "" || mode < 0 || mode > 2 {
		return m.cmeLocked(552)
	}
	result := func(code int) reply {
		r := ok()
		r.after = func() {
			if code != 0 {
				m.lastErr = code
			}
			m.urcLocked(fmt.Sprintf("+QIOPEN: %d,%d", id, code))
		}
		return r
	}
	if _, used := m.socks[id]; used {
		return result(563)
	}
	if typ != "TCP" && typ != "UDP" {
		return result(555) // server modes are not simulated
	}
	if mode == 2 {
		return result(555) // transparent mode is not simulated
	}
	if p, found := m.pdp[ctxID]; !found || !p.active {
		return result(561)
	}
	s := &sock{id: id, proto: typ, host: c.str(3), port: port, ctx: ctxID, mode: mode}
	m.socks[id] = s
	r := ok()
	r.after = func() {
		m.goAsync(func() {
			m.mu.Lock()
			defer m.mu.Unlock()
			if s.dead || m.closed {
				return
			}
			kind, alive := m.dialLocked(s, strings.ToLower(typ), s.host, port)
			if !alive {
				return
			}
			code := 0
			switch kind {
			case dialDNS:
				code = 565
			case dialRefused, dialTimeout, dialOther:
				code = 566
			}
			if code != 0 {
				m.lastErr = code
				delete(m.socks, id)
			}
			m.urcLocked(fmt.Sprintf("+QIOPEN: %d,%d", id, code))
		})
	}
	return r
}

// connected returns the socket id of c's argument i if it can send.
func (q *quectel) sockArg(c *command, i int) (*sock, bool) {
	id, good := c.int(i)
	if !good {
		return nil, false
	}
	s, found := q.m.socks[id]
	return s, found
}

// qisend: AT+QISEND=<id>,<len> → "> " → len bytes → SEND OK;
// AT+QISEND=<id> → "> " → data, Ctrl-Z; AT+QISEND=<id>,0 → counters.
func (q *quectel) qisend(c *command) reply {
	m := q.m
	if c.kind != kindSet {
		return m.cmeLocked(552)
	}
	s, found := q.sockArg(c, 0)
	n, good := c.intOr(1, -1)
	if !good || n > quectelMaxSend || n < -1 {
		return m.cmeLocked(552)
	}
	if n == 0 {
		if !found {
			return m.cmeLocked(552)
		}
		return ok(fmt.Sprintf("+QISEND: %d,%d,0", s.sent, s.sent))
	}
	if !found || !s.open || s.peerGone {
		return errorReply()
	}
	if m.takeLostPrompt() {
		return reply{}
	}
	dm := &dataMode{need: n, max: quectelMaxSend}
	dm.done = func(data []byte) reply {
		if data == nil {
			return ok() // ESC cancelled
		}
		if s.dead || s.peerGone {
			return errorReply()
		}
		err, alive := m.writeSockLocked(s, data, "")
		if !alive {
			return reply{}
		}
		if err != nil {
			return reply{final: "SEND FAIL"}
		}
		m.countSendLocked(len(data))
		return reply{final: "SEND OK"}
	}
	return reply{prompt: "\r\n> ", data: dm}
}

// qird: AT+QIRD=<id>[,<len>] in buffer access mode.
func (q *quectel) qird(c *command) reply {
	m := q.m
	s, found := q.sockArg(c, 0)
	n, good := c.intOr(1, quectelMaxRead)
	if c.kind != kindSet || !found || !good || n < 0 || n > quectelMaxRead {
		return m.cmeLocked(552)
	}
	if s.mode != 0 {
		return errorReply()
	}
	if n == 0 {
		return ok(fmt.Sprintf("+QIRD: %d,%d,%d", s.readTot+s.avail(), s.readTot, s.avail()))
	}
	data, _ := s.take(n)
	m.cond.Broadcast()
	if s.avail() == 0 {
		s.notified = false
	}
	if len(data) == 0 {
		return ok("+QIRD: 0")
	}
	hdr := fmt.Sprintf("\r\n+QIRD: %d\r\n", len(data))
	return reply{units: []unit{concat([]byte(hdr), data, []byte("\r\n"))}, final: "OK"}
}

func (q *quectel) dataArrived(s *sock) {
	m := q.m
	if s.mode == 1 {
		for s.avail() > 0 {
			data, _ := s.take(quectelMaxRead)
			hdr := fmt.Sprintf("\r\n+QIURC: \"recv\",%d,%d\r\n", s.id, len(data))
			m.emitLocked(concat([]byte(hdr), data, []byte("\r\n")))
		}
		return
	}
	if !s.notified {
		s.notified = true
		m.urcLocked(fmt.Sprintf(`+QIURC: "recv",%d`, s.id))
	}
}

func (q *quectel) peerClosed(s *sock) {
	s.open = false
	if s.closedOK {
		return // reported by "pdpdeact"
	}
	q.m.urcLocked(fmt.Sprintf(`+QIURC: "closed",%d`, s.id))
}

func (q *quectel) qiclose(c *command) reply {
	m := q.m
	s, found := q.sockArg(c, 0)
	if c.kind != kindSet {
		return m.cmeLocked(552)
	}
	if found {
		m.closeSockLocked(s)
	}
	return ok()
}

// qistate: AT+QISTATE? (all), AT+QISTATE=0,<ctx>, AT+QISTATE=1,<id>.
func (q *quectel) qistate(c *command) reply {
	m := q.m
	var lines []string
	add := func(s *sock) {
		st := qStateOpening
		switch {
		case s.peerGone:
			st = qStateClosing
		case s.open:
			st = qStateOpen
		}
		lport := 0
		if s.conn != nil {
			lport = portOf(s.conn.LocalAddr().String())
		}
		lines = append(lines, fmt.Sprintf(`+QISTATE: %d,"%s","%s",%d,%d,%d,%d,%d,%d,"uart1"`,
			s.id, s.proto, s.host, s.port, lport, st, s.ctx, s.id, s.mode))
	}
	typ, _ := c.intOr(0, -1)
	arg, _ := c.intOr(1, -1)
	for _, id := range sortedKeys(m.socks) {
		s := m.socks[id]
		switch {
		case c.kind != kindSet, typ == 0 && s.ctx == arg, typ == 1 && s.id == arg:
			add(s)
		}
	}
	return ok(lines...)
}

// qidnsgip: OK, then +QIURC: "dnsgip",0,<n>,<ttl> and one line per address.
func (q *quectel) qidnsgip(c *command) reply {
	m := q.m
	name := c.str(1)
	if c.kind != kindSet || name == "" {
		return m.cmeLocked(552)
	}
	r := ok()
	r.after = func() {
		m.goAsync(func() {
			ip, err := m.resolve(name)
			m.mu.Lock()
			defer m.mu.Unlock()
			if m.closed {
				return
			}
			if err != nil {
				m.urcLocked(`+QIURC: "dnsgip",565`)
				return
			}
			m.urcLocked(`+QIURC: "dnsgip",0,1,600`)
			m.urcLocked(fmt.Sprintf(`+QIURC: "dnsgip","%s"`, ip))
		})
	}
	return r
}

// qiswtmd: AT+QISWTMD=<id>,<mode 0 buffer|1 push>.
func (q *quectel) qiswtmd(c *command) reply {
	m := q.m
	s, found := q.sockArg(c, 0)
	mode, good := c.int(1)
	if !found || !good || mode < 0 || mode > 1 {
		return m.cmeLocked(552)
	}
	s.mode = mode
	if mode == 1 && s.avail() > 0 {
		q.dataArrived(s)
	}
	return ok()
}

// bearerLost: the network deactivated the context: sockets die and
// +QIURC: "pdpdeact",<ctx> is sent once per active context.
func (q *quectel) bearerLost() {
	m := q.m
	for _, id := range sortedKeys(m.pdp) {
		if !m.pdp[id].active {
			continue
		}
		m.pdp[id].active = false
		for _, s := range m.socks {
			if s.ctx == id && s.conn != nil {
				s.conn.Close() // the host still has to QICLOSE the id
				s.open, s.peerGone, s.closedOK = false, true, true
			}
		}
		m.urcLocked(fmt.Sprintf(`+QIURC: "pdpdeact",%d`, id))
	}
}
