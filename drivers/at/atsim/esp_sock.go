package atsim

import (
	"fmt"
	"strconv"
	"strings"
)

func (d *esp) cipmux(c *command) reply {
	switch c.kind {
	case kindRead:
		return ok(fmt.Sprintf("+CIPMUX:%d", b2i(d.mux)))
	case kindSet:
		n, good := c.int(0)
		if !good || n < 0 || n > 1 || len(d.m.socks) > 0 {
			return errorReply()
		}
		d.mux = n == 1
		return ok()
	}
	return ok("+CIPMUX:(0,1)")
}

// linkArg takes the link id in multi-link mode (argument 0) and returns
// the index of the next argument; in single-link mode the link is 0.
func (d *esp) linkArg(c *command) (id, next int, good bool) {
	if !d.mux {
		return 0, 0, true
	}
	id, good = c.int(0)
	return id, 1, good && id >= 0 && id < espMaxLinks
}

func (d *esp) prefix(id int) string {
	if d.mux {
		return strconv.Itoa(id) + ","
	}
	return ""
}

func (d *esp) closedLine(id int) string { return d.prefix(id) + "CLOSED" }

// cipstart connects synchronously: "<id>,CONNECT" and OK, or ERROR.
func (d *esp) cipstart(c *command) reply {
	m := d.m
	id, i, good := d.linkArg(c)
	port, good2 := c.int(i + 2)
	typ := strings.ToUpper(c.str(i))
	host := c.str(i + 1)
	if c.kind != kindSet || !good || !good2 || port < 1 || port > 65535 || host == "" || len(host) > 64 {
		return errorReply()
	}
	if _, used := m.socks[id]; used {
		return reply{units: []unit{line("ALREADY CONNECTED")}, final: "ERROR"}
	}
	if typ != "TCP" && typ != "UDP" {
		return errorReply() // SSL and IPv6 are not simulated
	}
	if d.wifi == "" {
		return errorReply()
	}
	s := &sock{id: id, proto: typ, host: host, port: port}
	if d.passive[id] {
		s.mode = 1
	}
	m.socks[id] = s
	kind, alive := m.dialLocked(s, strings.ToLower(typ), host, port)
	if !alive {
		return reply{}
	}
	if kind != dialOK {
		delete(m.socks, id)
		return errorReply()
	}
	return reply{units: []unit{line(d.prefix(id) + "CONNECT")}, final: "OK"}
}

// cipsend: "OK", ">", exactly len bytes, "Recv <len> bytes", "SEND OK".
func (d *esp) cipsend(c *command) reply {
	m := d.m
	id, i, good := d.linkArg(c)
	n, good2 := c.int(i)
	if c.kind != kindSet || !good || !good2 || n < 1 || n > espMaxSend {
		return errorReply()
	}
	s, found := m.socks[id]
	if !found || !s.open || s.peerGone {
		return errorReply()
	}
	if m.takeLostPrompt() {
		return reply{}
	}
	dm := &dataMode{need: n}
	dm.done = func(data []byte) reply {
		if s.dead {
			return errorReply()
		}
		us := []unit{line(fmt.Sprintf("Recv %d bytes", len(data)))}
		err, alive := m.writeSockLocked(s, data, "")
		if !alive {
			return reply{}
		}
		if err != nil {
			return reply{units: us, final: "SEND FAIL"}
		}
		m.countSendLocked(len(data))
		return reply{units: us, final: "SEND OK"}
	}
	return reply{units: []unit{line("OK")}, prompt: "\r\n>", data: dm}
}

func (d *esp) cipclose(c *command) reply {
	m := d.m
	id, _, good := d.linkArg(c)
	if d.mux && c.kind == kindSet {
		if n, good2 := c.int(0); good2 && n == espMaxLinks {
			var us []unit
			for _, id := range sortedKeys(m.socks) {
				m.closeSockLocked(m.socks[id])
				us = append(us, line(d.closedLine(id)))
			}
			return reply{units: us, final: "OK"}
		}
	}
	if !good || (d.mux && c.kind != kindSet) {
		return errorReply()
	}
	s, found := m.socks[id]
	if !found {
		return errorReply()
	}
	m.closeSockLocked(s)
	return reply{units: []unit{line(d.closedLine(id))}, final: "OK"}
}

func (d *esp) ciprecvmode(c *command) reply {
	m := d.m
	switch c.kind {
	case kindRead:
		return ok(fmt.Sprintf("+CIPRECVMODE:%d", b2i(d.passive[0])))
	case kindSet:
		n, good := c.int(0)
		if !good || n < 0 || n > 1 {
			return errorReply()
		}
		for id := range d.passive {
			d.setPassive(id, n == 1)
		}
		_ = m
		return ok()
	}
	return ok("+CIPRECVMODE:(0,1)")
}

// ciprecvtype: AT+CIPRECVTYPE=<link|5>,<mode>.
func (d *esp) ciprecvtype(c *command) reply {
	switch c.kind {
	case kindRead:
		var lines []string
		for id, p := range d.passive {
			lines = append(lines, fmt.Sprintf("+CIPRECVTYPE:%d,%d", id, b2i(p)))
		}
		return ok(lines...)
	case kindSet:
		id, good := c.int(0)
		n, good2 := c.int(1)
		if !good || !good2 || id < 0 || id > espMaxLinks || n < 0 || n > 1 {
			return errorReply()
		}
		for k := range d.passive {
			if id == espMaxLinks || id == k {
				d.setPassive(k, n == 1)
			}
		}
		return ok()
	}
	return ok()
}

func (d *esp) setPassive(id int, on bool) {
	d.passive[id] = on
	if s, found := d.m.socks[id]; found {
		s.mode = b2i(on)
		if !on && s.avail() > 0 {
			d.dataArrived(s)
		}
	}
}

// ciprecvdata: AT+CIPRECVDATA=<id>,<max> → +CIPRECVDATA:<n>,<data> OK.
func (d *esp) ciprecvdata(c *command) reply {
	m := d.m
	id, i, good := d.linkArg(c)
	n, good2 := c.int(i)
	if c.kind != kindSet || !good || !good2 || n < 1 {
		return errorReply()
	}
	s, found := m.socks[id]
	if !found || s.mode != 1 || s.avail() == 0 {
		return errorReply()
	}
	data, addr := s.take(n)
	m.cond.Broadcast()
	hdr := fmt.Sprintf("\r\n+CIPRECVDATA:%d,", len(data))
	if d.dinfo {
		hdr = fmt.Sprintf("\r\n+CIPRECVDATA:%d,\"%s\",%d,", len(data), hostOf(addr), portOf(addr))
	}
	r := reply{units: []unit{concat([]byte(hdr), data, []byte("\r\n"))}, final: "OK"}
	if s.avail() == 0 {
		s.notified = false
		if s.peerGone {
			// the CLOSED withheld in passive mode comes once drained
			r.after = func() { d.closeGone(s) }
		}
	}
	return r
}

// ciprecvlen: +CIPRECVLEN:<l0>,...,<l4>, empty for closed links.
func (d *esp) ciprecvlen(c *command) reply {
	if c.kind != kindRead {
		return errorReply()
	}
	f := make([]string, espMaxLinks)
	for id, s := range d.m.socks {
		if s.mode == 1 {
			f[id] = strconv.Itoa(s.avail())
		}
	}
	return ok("+CIPRECVLEN:" + strings.Join(f, ","))
}

func (d *esp) cipdomain(c *command) reply {
	m := d.m
	name := c.str(0)
	if c.kind != kindSet || name == "" || d.wifi == "" {
		return errorReply()
	}
	var ip string
	var err error
	if !m.unlocked(func() { ip, err = m.resolve(name) }) {
		return reply{}
	}
	if err != nil {
		return errorReply()
	}
	return ok(fmt.Sprintf(`+CIPDOMAIN:"%s"`, ip))
}

func (d *esp) linkLines(prefix string) []string {
	var lines []string
	for _, id := range sortedKeys(d.m.socks) {
		s := d.m.socks[id]
		if !s.open {
			continue
		}
		lport := 0
		if s.conn != nil {
			lport = portOf(s.conn.LocalAddr().String())
		}
		lines = append(lines, fmt.Sprintf(`%s%d,"%s","%s",%d,%d,0`, prefix, id, s.proto, hostOf(s.remote), s.port, lport))
	}
	return lines
}

func (d *esp) cipstatus(*command) reply {
	st := 5
	if d.wifi != "" {
		st = 2
		if len(d.m.socks) > 0 {
			st = 3
		}
	}
	return ok(append([]string{fmt.Sprintf("STATUS:%d", st)}, d.linkLines("+CIPSTATUS:")...)...)
}

func (d *esp) cipstate(c *command) reply {
	if c.kind != kindRead {
		return errorReply()
	}
	return ok(d.linkLines("+CIPSTATE:")...)
}

// dataArrived: active mode pushes +IPD,<id>,<len>:<data> (no line end
// after the data); passive mode notifies +IPD,<id>,<total> once.
func (d *esp) dataArrived(s *sock) {
	m := d.m
	if s.mode == 1 {
		if !s.notified {
			s.notified = true
			m.urcLocked(fmt.Sprintf("+IPD,%s%d", d.prefix(s.id), s.avail()))
		}
		return
	}
	for s.avail() > 0 {
		data, addr := s.take(espMaxIPD)
		hdr := fmt.Sprintf("\r\n+IPD,%s%d", d.prefix(s.id), len(data))
		if d.dinfo {
			hdr += fmt.Sprintf(",\"%s\",%d", hostOf(addr), portOf(addr))
		}
		m.emitLocked(concat([]byte(hdr+":"), data))
	}
}

func (d *esp) peerClosed(s *sock) {
	s.open = false
	if s.mode == 1 && s.avail() > 0 {
		return // withheld until the host has read the buffer
	}
	d.closeGone(s)
}

// closeGone reports a link the peer closed and frees its id.
func (d *esp) closeGone(s *sock) {
	if s.dead {
		return
	}
	d.m.closeSockLocked(s)
	d.m.urcLocked(d.closedLine(s.id))
}

// bearerLost: the AP went away.
func (d *esp) bearerLost() {
	if d.wifi == "" {
		return
	}
	d.wifi = ""
	d.dropLinks()
	d.m.urcLocked("WIFI DISCONNECT")
}
