package atsim

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// linkLine is a SIM800 multi-IP result: "<n>, <text>", with a space after
// the comma.
func linkLine(id int, text string) string { return fmt.Sprintf("%d, %s", id, text) }

// linkArg is the connection number in argument i (multi-IP mode only).
func (d *sim800) linkArg(c *command, i int) (int, bool) {
	id, good := c.int(i)
	return id, good && d.mux && id >= 0 && id < sim800MaxLinks
}

// portArg reads a port given as a number or a quoted string ("8883").
func portArg(c *command, i int) (int, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(c.str(i)))
	return n, err == nil && n >= 1 && n <= 65535
}

// cipstart: AT+CIPSTART=<n>,"TCP"|"UDP","<host>",<port> in IP STATUS or
// IP PROCESSING → OK, then "<n>, CONNECT OK" | "<n>, CONNECT FAIL" |
// "<n>, ALREADY CONNECT".
func (d *sim800) cipstart(c *command) reply {
	m := d.m
	if c.kind == kindTest {
		return ok(`+CIPSTART: (0-5),("TCP","UDP"),("(0-255).(0-255).(0-255).(0-255)"),(1-65535)`,
			`+CIPSTART: (0-5),("TCP","UDP"),("DOMAIN NAME"),(1-65535)`)
	}
	id, good := d.linkArg(c, 0)
	proto := strings.ToUpper(c.str(1))
	host := c.str(2)
	port, good2 := portArg(c, 3)
	if c.kind != kindSet || !good || !good2 || host == "" || (proto != "TCP" && proto != "UDP") {
		return errorReply()
	}
	if d.state != s8Status {
		return errorReply() // multi-IP: only in IP STATUS (after AT+CIFSR)
	}
	result := func(text string) reply {
		r := ok()
		r.after = func() { m.urcLocked(linkLine(id, text)) }
		return r
	}
	if old, used := m.socks[id]; used {
		if !old.peerGone {
			return result("ALREADY CONNECT")
		}
		m.closeSockLocked(old) // closed by the peer: the number is free again
	}
	s := &sock{id: id, proto: proto, host: host, port: port, ctx: 1, mode: b2i(d.manual)}
	m.socks[id] = s
	d.links[id] = sim800Link{proto: proto, ip: host, port: port, state: "CONNECTING"}
	r := ok()
	r.after = func() {
		m.goAsync(func() {
			m.mu.Lock()
			defer m.mu.Unlock()
			if s.dead || m.closed {
				return
			}
			kind, alive := m.dialLocked(s, strings.ToLower(proto), host, port)
			if !alive || s.dead {
				return
			}
			if kind != dialOK {
				delete(m.socks, id)
				d.links[id] = sim800Link{}
				m.urcLocked(linkLine(id, "CONNECT FAIL"))
				return
			}
			d.links[id].ip, d.links[id].state = hostOf(s.remote), "CONNECTED"
			m.urcLocked(linkLine(id, "CONNECT OK"))
		})
	}
	return r
}

// cipsend: AT+CIPSEND=<n>,<len> → "> " → exactly len bytes, or
// AT+CIPSEND=<n> → "> " → data up to Ctrl-Z (ESC cancels); then
// "<n>, SEND OK" (or "DATA ACCEPT:<n>,<len>" with AT+CIPQSEND=1), or
// "<n>, SEND FAIL".
func (d *sim800) cipsend(c *command) reply {
	m := d.m
	switch c.kind {
	case kindTest:
		return ok(fmt.Sprintf("+CIPSEND: (0-5),(1-%d)", sim800MaxSend))
	case kindRead:
		var lines []string
		for id := range sim800MaxLinks {
			n := 0
			if s, found := m.socks[id]; found && s.open {
				n = sim800MaxSend
			}
			lines = append(lines, fmt.Sprintf("+CIPSEND: %d,%d", id, n))
		}
		return ok(lines...)
	}
	id, good := d.linkArg(c, 0)
	n, good2 := c.intOr(1, -1)
	if c.kind != kindSet || !good || !good2 || n == 0 || n < -1 || n > sim800MaxSend {
		return errorReply()
	}
	s, found := m.socks[id]
	if !found || !s.open || s.peerGone || d.state != s8Status {
		return errorReply()
	}
	if m.takeLostPrompt() {
		return reply{}
	}
	dm := &dataMode{need: n, max: sim800MaxSend}
	dm.done = func(data []byte) reply {
		if data == nil {
			return ok() // ESC: nothing sent
		}
		var err error
		alive := true
		if len(data) == 0 || s.dead || s.peerGone {
			err = net.ErrClosed
		} else {
			err, alive = m.writeSockLocked(s, data, "")
		}
		switch {
		case !alive:
			return reply{} // rebooted meanwhile
		case err != nil:
			return reply{final: linkLine(id, "SEND FAIL")}
		case d.qsend:
			m.countSendLocked(len(data))
			return reply{final: fmt.Sprintf("DATA ACCEPT:%d,%d", id, len(data))}
		}
		m.countSendLocked(len(data))
		return reply{final: linkLine(id, "SEND OK")}
	}
	return reply{prompt: "\r\n> ", data: dm}
}

// ciprxget: =0|1 chooses push or manual receive (before any connection);
// =2,<n>[,<len>] reads up to 1460 bytes, =3 as hex (730), =4,<n> tells
// what is buffered.
func (d *sim800) ciprxget(c *command) reply {
	m := d.m
	switch c.kind {
	case kindRead:
		return ok(fmt.Sprintf("+CIPRXGET: %d", b2i(d.manual)))
	case kindTest:
		return ok("+CIPRXGET: (0-4),(0-5),(1-1460)")
	case kindExec:
		return errorReply()
	}
	mode, good := c.int(0)
	if !good {
		return errorReply()
	}
	if mode == 0 || mode == 1 {
		if len(m.socks) > 0 {
			return errorReply() // to be set before a connection is opened
		}
		d.manual = mode == 1
		return ok()
	}
	id, good := d.linkArg(c, 1)
	s, found := m.socks[id]
	if !good || !d.manual || !found || s.mode != 1 {
		return errorReply()
	}
	switch mode {
	case 4:
		return ok(fmt.Sprintf("+CIPRXGET: 4,%d,%d", id, s.avail()))
	case 2, 3:
		return d.rxRead(s, mode, c)
	}
	return errorReply()
}

// rxRead answers AT+CIPRXGET=2|3: "+CIPRXGET: <mode>,<n>,<len>,<left>",
// the bytes (or their hex), OK. The third field is what follows, the
// fourth what stays buffered (testdata/sim800.md §5.3).
func (d *sim800) rxRead(s *sock, mode int, c *command) reply {
	m := d.m
	limit := sim800MaxRead
	if mode == 3 {
		limit = sim800MaxRead / 2
	}
	want, good := c.intOr(2, limit)
	if !good || want < 1 || want > limit {
		return errorReply()
	}
	data, _ := s.take(want)
	m.cond.Broadcast()
	left := s.avail()
	hdr := fmt.Sprintf("+CIPRXGET: %d,%d,%d,%d", mode, s.id, len(data), left)
	var body unit
	switch {
	case len(data) == 0:
		body = line(hdr)
	case mode == 3:
		body = concat(line(hdr), []byte(hexUpper(data)+"\r\n"))
	default:
		body = concat([]byte("\r\n"+hdr+"\r\n"), data, []byte("\r\n"))
	}
	r := reply{units: []unit{body}, final: "OK"}
	if left == 0 {
		s.notified = false
		if s.peerGone {
			r.after = func() { m.closeSockLocked(s) }
		}
	}
	return r
}

// cipclose: AT+CIPCLOSE=<n>[,0|1] → "<n>, CLOSE OK"; ERROR unless the
// connection is connecting or connected.
func (d *sim800) cipclose(c *command) reply {
	m := d.m
	if c.kind == kindTest {
		return ok()
	}
	id, good := d.linkArg(c, 0)
	quick, good2 := c.intOr(1, 0)
	s, found := m.socks[id]
	if c.kind != kindSet || !good || !good2 || quick < 0 || quick > 1 || !found || s.peerGone {
		return errorReply()
	}
	m.closeSockLocked(s)
	d.links[id].state = "CLOSED"
	return reply{final: linkLine(id, "CLOSE OK")}
}

// cipstatus: AT+CIPSTATUS → OK, then (after the OK) "STATE: <state>" and
// one "C: " line per connection number; AT+CIPSTATUS=<n> → one
// "+CIPSTATUS: " line and OK.
func (d *sim800) cipstatus(c *command) reply {
	m := d.m
	switch c.kind {
	case kindTest:
		return ok()
	case kindSet:
		id, good := d.linkArg(c, 0)
		if !good {
			return errorReply()
		}
		return ok("+CIPSTATUS: " + d.linkStatus(id))
	case kindExec:
		r := ok()
		r.after = func() {
			m.urcLocked("STATE: " + d.stateName())
			if !d.mux {
				return
			}
			for id := range sim800MaxLinks {
				lead := ""
				if id == 0 {
					lead = "\r\n" // one empty line after STATE:, none between the C: lines
				}
				m.emitLocked(unit(lead + "C: " + d.linkStatus(id) + "\r\n"))
			}
		}
		return r
	}
	return errorReply()
}

// linkStatus is `<n>,<bearer>,"<TCP/UDP>","<ip>","<port>","<state>"`.
func (d *sim800) linkStatus(id int) string {
	l := d.links[id]
	if l.state == "" {
		return fmt.Sprintf(`%d,,"","","","INITIAL"`, id)
	}
	return fmt.Sprintf(`%d,0,"%s","%s","%d","%s"`, id, l.proto, l.ip, l.port, l.state)
}

// dataArrived: manual mode says "+CIPRXGET: 1,<n>" once until the buffer
// is read empty; push mode sends "+RECEIVE,<n>,<len>:" and the data.
func (d *sim800) dataArrived(s *sock) {
	m := d.m
	if s.mode == 1 && !s.notified {
		s.notified = true
		m.urcLocked(fmt.Sprintf("+CIPRXGET: 1,%d", s.id))
	}
	for s.mode == 0 && s.avail() > 0 {
		data, _ := s.take(sim800MaxRead)
		m.emitLocked(concat([]byte(fmt.Sprintf("\r\n+RECEIVE,%d,%d:\r\n", s.id, len(data))), data))
	}
}

// peerClosed: "<n>, CLOSED"; in manual mode buffered data can still be
// read, after which the number is free.
func (d *sim800) peerClosed(s *sock) {
	m := d.m
	s.open = false
	if s.id < sim800MaxLinks {
		d.links[s.id].state = "CLOSED"
	}
	m.urcLocked(linkLine(s.id, "CLOSED"))
	if s.avail() == 0 {
		m.closeSockLocked(s)
	}
}
