package atsim

import (
	"encoding/hex"
	"fmt"
)

// usocr: AT+USOCR=6|17[,<lport>] → +USOCR: <s>; the module picks s.
func (d *ublox) usocr(c *command) reply {
	m := d.m
	proto, good := c.int(0)
	if c.kind != kindSet || !good || (proto != 6 && proto != 17) {
		return m.cmeLocked(50)
	}
	if !m.pdpActiveLocked() {
		return m.cmeLocked(3)
	}
	id := -1
	for k := range ubloxMaxSockets {
		if _, used := m.socks[k]; !used {
			id = k
			break
		}
	}
	if id < 0 {
		return m.cmeLocked(3)
	}
	s := &sock{id: id, proto: "TCP"}
	if proto == 17 {
		s.proto = "UDP"
		if err := m.listenUDPLocked(s); err != nil {
			return m.cmeLocked(3)
		}
	}
	m.socks[id] = s
	return ok(fmt.Sprintf("+USOCR: %d", id))
}

func (d *ublox) sock(c *command) (*sock, bool) {
	id, good := c.int(0)
	if !good {
		return nil, false
	}
	s, found := d.m.socks[id]
	return s, found
}

func errnoOf(kind int) int {
	switch kind {
	case dialOK:
		return errnoNone
	case dialRefused:
		return errnoRefused
	case dialTimeout:
		return errnoTimeout
	}
	return errnoHostUnreach
}

// usoco: AT+USOCO=<s>,<host>,<port>[,<async>]: synchronous OK/error, or
// OK then +UUSOCO: <s>,<errno>.
func (d *ublox) usoco(c *command) reply {
	m := d.m
	s, found := d.sock(c)
	port, good := c.int(2)
	async, good2 := c.intOr(3, 0)
	if c.kind != kindSet || !found || !good || !good2 || port < 1 || port > 65535 || c.str(1) == "" {
		return m.cmeLocked(50)
	}
	if s.conn != nil || (s.proto == "UDP" && s.remote != "") {
		return m.cmeLocked(3)
	}
	s.host, s.port = c.str(1), port
	if s.proto == "UDP" {
		// UDP "connect" only sets the peer of USOWR.
		var ip string
		var err error
		if !m.unlocked(func() { ip, err = m.resolve(s.host) }) {
			return reply{}
		}
		if err != nil {
			m.lastErr = errnoHostUnreach
			return m.cmeLocked(3)
		}
		s.remote = fmt.Sprintf("%s:%d", ip, port)
		return ok()
	}
	if async == 1 {
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
				s.lastErr = errnoOf(kind)
				if kind != dialOK {
					m.lastErr = s.lastErr
				}
				m.urcLocked(fmt.Sprintf("+UUSOCO: %d,%d", s.id, s.lastErr))
			})
		}
		return r
	}
	kind, alive := m.dialLocked(s, "tcp", s.host, port)
	if !alive {
		return reply{}
	}
	if kind != dialOK {
		s.lastErr, m.lastErr = errnoOf(kind), errnoOf(kind)
		return m.cmeLocked(3)
	}
	return ok()
}

// write: AT+USOWR=<s>,<len> → "@" → (50 ms) → len bytes → +USOWR: <s>,<len>;
// AT+USOWR=<s>,<len>,"<data>" sends the string (hex with UDCONF=1,1).
// AT+USOST=<s>,<ip>,<port>,<len>[,"<data>"] is the UDP form.
func (d *ublox) write(c *command, to bool) reply {
	m := d.m
	s, found := d.sock(c)
	base, prefix := 1, "+USOWR"
	addr := ""
	if to {
		port, good := c.int(2)
		if !good || c.str(1) == "" {
			return m.cmeLocked(50)
		}
		base, prefix = 3, "+USOST"
		addr = fmt.Sprintf("%s:%d", c.str(1), port)
	}
	n, good := c.int(base)
	limit := ubloxMaxData
	if d.hexMode && c.has(base+1) {
		limit = ubloxMaxHex
	}
	if c.kind != kindSet || !found || !good || n < 1 || n > limit {
		return m.cmeLocked(50)
	}
	if to != (s.proto == "UDP") && to {
		return m.cmeLocked(3)
	}
	if !to && s.proto == "UDP" {
		addr = s.remote
	}
	if (s.proto == "TCP" && (!s.open || s.peerGone)) || (s.proto == "UDP" && addr == "") {
		s.lastErr, m.lastErr = errnoNotConn, errnoNotConn
		return m.cmeLocked(3)
	}
	send := func(data []byte) reply {
		if s.dead {
			return m.cmeLocked(3)
		}
		err, alive := m.writeSockLocked(s, data, addr)
		if !alive {
			return reply{}
		}
		if err != nil {
			return m.cmeLocked(3)
		}
		m.countSendLocked(len(data))
		return ok(fmt.Sprintf("%s: %d,%d", prefix, s.id, len(data)))
	}
	if c.has(base + 1) {
		data := []byte(c.str(base + 1))
		if d.hexMode {
			var err error
			if data, err = hex.DecodeString(string(data)); err != nil {
				return m.cmeLocked(50)
			}
		}
		if len(data) != n {
			return m.cmeLocked(50)
		}
		return send(data)
	}
	if m.takeLostPrompt() {
		return reply{}
	}
	return reply{prompt: "@", data: &dataMode{need: n, done: send}}
}

// read: AT+USORD=<s>,<len> → +USORD: <s>,<n>,"<n bytes>"; len 0 asks
// what is buffered. AT+USORF adds the sender: +USORF: <s>,"<ip>",<port>,<n>,"<data>".
func (d *ublox) read(c *command, from bool) reply {
	m := d.m
	s, found := d.sock(c)
	n, good := c.int(1)
	limit := ubloxMaxData
	if d.hexMode {
		limit = ubloxMaxHex
	}
	if c.kind != kindSet || !found || !good || n < 0 || n > limit {
		return m.cmeLocked(50)
	}
	prefix := "+USORD"
	if from {
		prefix = "+USORF"
	}
	if n == 0 {
		return ok(fmt.Sprintf("%s: %d,%d", prefix, s.id, s.avail()))
	}
	data, addr := s.take(n)
	m.cond.Broadcast()
	hdr := fmt.Sprintf("\r\n%s: %d,%d,\"", prefix, s.id, len(data))
	if from {
		hdr = fmt.Sprintf("\r\n%s: %d,\"%s\",%d,%d,\"", prefix, s.id, hostOf(addr), portOf(addr), len(data))
	}
	payload := data
	if d.hexMode {
		payload = []byte(hexUpper(data))
	}
	r := reply{units: []unit{concat([]byte(hdr), payload, []byte("\"\r\n"))}, final: "OK"}
	r.after = func() { d.afterRead(s, from) }
	return r
}

// afterRead re-announces data left in the buffer, or the close withheld
// until the buffer was drained.
func (d *ublox) afterRead(s *sock, from bool) {
	m := d.m
	if s.avail() > 0 {
		s.notified = false
		d.dataArrived(s)
		return
	}
	s.notified = false
	if s.peerGone && !s.dead {
		m.closeSockLocked(s)
		m.urcLocked(fmt.Sprintf("+UUSOCL: %d", s.id))
	}
}

func (d *ublox) usocl(c *command) reply {
	m := d.m
	s, found := d.sock(c)
	async, good := c.intOr(1, 0)
	if c.kind != kindSet || !found || !good {
		return m.cmeLocked(3)
	}
	m.closeSockLocked(s)
	if async == 1 {
		r := ok()
		r.after = func() { m.urcLocked(fmt.Sprintf("+UUSOCL: %d", s.id)) }
		return r
	}
	return ok()
}

// usoctl: param 0 type, 1 last error, 10 TCP state (0 inactive, 4
// established, 7 close-wait).
func (d *ublox) usoctl(c *command) reply {
	m := d.m
	s, found := d.sock(c)
	param, good := c.int(1)
	if c.kind != kindSet || !found || !good {
		return m.cmeLocked(50)
	}
	switch param {
	case 0:
		return ok(fmt.Sprintf("+USOCTL: %d,0,%d", s.id, map[string]int{"TCP": 6, "UDP": 17}[s.proto]))
	case 1:
		return ok(fmt.Sprintf("+USOCTL: %d,1,%d", s.id, s.lastErr))
	case 10:
		st := 0
		switch {
		case s.peerGone:
			st = 7
		case s.open && s.conn != nil:
			st = 4
		}
		return ok(fmt.Sprintf("+USOCTL: %d,10,%d", s.id, st))
	}
	return m.cmeLocked(50)
}

func (d *ublox) udnsrn(c *command) reply {
	m := d.m
	name := c.str(1)
	if c.kind != kindSet || name == "" {
		return m.cmeLocked(50)
	}
	var ip string
	var err error
	if !m.unlocked(func() { ip, err = m.resolve(name) }) {
		return reply{}
	}
	if err != nil {
		return m.cmeLocked(100)
	}
	return ok(fmt.Sprintf(`+UDNSRN: "%s"`, ip))
}

// udconf: AT+UDCONF=1,<0|1> sets HEX mode; AT+UDCONF=1 reads it.
func (d *ublox) udconf(c *command) reply {
	op, good := c.int(0)
	if c.kind != kindSet || !good {
		return d.m.cmeLocked(50)
	}
	if op != 1 {
		return ok()
	}
	if !c.has(1) {
		return ok(fmt.Sprintf("+UDCONF: 1,%d", b2i(d.hexMode)))
	}
	v, good := c.int(1)
	if !good || v < 0 || v > 1 {
		return d.m.cmeLocked(50)
	}
	d.hexMode = v == 1
	return ok()
}

// dataArrived: +UUSORD: <s>,<len> (TCP, capped at 1024) or +UUSORF
// (UDP), once until the host has read.
func (d *ublox) dataArrived(s *sock) {
	if s.notified {
		return
	}
	s.notified = true
	if s.proto == "UDP" {
		n := 0
		if len(s.dgrams) > 0 {
			n = len(s.dgrams[0].data)
		}
		d.m.urcLocked(fmt.Sprintf("+UUSORF: %d,%d", s.id, n))
		return
	}
	d.m.urcLocked(fmt.Sprintf("+UUSORD: %d,%d", s.id, min(s.avail(), ubloxMaxData)))
}

// peerClosed: +UUSOCL: <s>, but only once all data has been read.
func (d *ublox) peerClosed(s *sock) {
	s.open = false
	if s.avail() == 0 {
		d.m.closeSockLocked(s)
		d.m.urcLocked(fmt.Sprintf("+UUSOCL: %d", s.id))
	}
}

// bearerLost: the context is gone; every socket closes.
func (d *ublox) bearerLost() {
	m := d.m
	if !m.pdpActiveLocked() {
		return
	}
	for _, p := range m.pdp {
		p.active = false
	}
	for _, id := range sortedKeys(m.socks) {
		m.closeSockLocked(m.socks[id])
		m.urcLocked(fmt.Sprintf("+UUSOCL: %d", id))
	}
	if d.psd {
		d.psd = false
		m.urcLocked("+UUPSDD: 0")
	}
}
