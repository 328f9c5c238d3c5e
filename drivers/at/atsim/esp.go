package atsim

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ESP-AT v2 limits (AT-MODEMS.md §1.3).
const (
	espMaxLinks = 5
	espMaxSend  = 8192
	espMaxIPD   = 2920
)

type esp struct {
	m       *Modem
	cwmode  int
	wifi    string // SSID joined; "" when not connected
	mux     bool
	passive [espMaxLinks]bool
	dinfo   bool
}

func newESP(m *Modem) dialect { return &esp{m: m} }

func (d *esp) reset() {
	d.cwmode, d.wifi, d.mux, d.dinfo = 1, "", false, false
	d.passive = [espMaxLinks]bool{}
}

func (d *esp) banner() []unit             { return []unit{line("ready")} }
func (d *esp) noise() string              { return "+TIME_UPDATED" }
func (d *esp) escapes() bool              { return true }
func (d *esp) promptGuard() time.Duration { return 0 }
func (d *esp) act() int                   { return 0 }

func (d *esp) info(name string) ([]string, bool) { return nil, false }

// gmr identifies the firmware; drivers parse "AT version:".
var espGMR = []string{
	"AT version:2.4.0.0(s-4c6eb65 - ESP32 - May 20 2022 03:12:58)",
	"SDK version:qa-test-v4.3.3-20220423",
	"compile time(5641e0ad):May 20 2022 11:13:41",
	"Bin version:2.4.0(WROOM-32)",
}

func (d *esp) handler(name string) (handler, bool) {
	m := d.m
	switch name {
	case "+GMR":
		return func(*command) reply { return ok(espGMR...) }, true
	case "+RST", "+RESTORE":
		return func(*command) reply {
			r := ok()
			r.after = m.rebootLocked
			return r
		}, true
	case "+CWMODE", "+CWMODE_CUR", "+CWMODE_DEF":
		return d.cwmodeCmd, true
	case "+CWJAP", "+CWJAP_CUR", "+CWJAP_DEF":
		return d.cwjap, true
	case "+CWQAP":
		return d.cwqap, true
	case "+CWLAP":
		return d.cwlap, true
	case "+CIPMUX":
		return d.cipmux, true
	case "+CIPSTART":
		return d.cipstart, true
	case "+CIPSEND":
		return d.cipsend, true
	case "+CIPCLOSE":
		return d.cipclose, true
	case "+CIPRECVMODE":
		return d.ciprecvmode, true
	case "+CIPRECVTYPE":
		return d.ciprecvtype, true
	case "+CIPRECVDATA":
		return d.ciprecvdata, true
	case "+CIPRECVLEN":
		return d.ciprecvlen, true
	case "+CIPDINFO":
		return func(c *command) reply {
			if c.kind == kindRead {
				return ok(fmt.Sprintf("+CIPDINFO:%s", map[bool]string{false: "FALSE", true: "TRUE"}[d.dinfo]))
			}
			n, good := c.int(0)
			if !good || n < 0 || n > 1 {
				return errorReply()
			}
			d.dinfo = n == 1
			return ok()
		}, true
	case "+CIPDOMAIN":
		return d.cipdomain, true
	case "+CIPSTATUS":
		return d.cipstatus, true
	case "+CIPSTATE":
		return d.cipstate, true
	case "+CIFSR":
		return func(*command) reply {
			ip := "0.0.0.0"
			if d.wifi != "" {
				ip = "192.168.4.2"
			}
			return ok(fmt.Sprintf(`+CIFSR:STAIP,"%s"`, ip), `+CIFSR:STAMAC,"24:0a:c4:00:00:01"`)
		}, true
	case "+CIPDNS", "+CIPDNS_CUR", "+CIPDNS_DEF":
		return func(c *command) reply {
			if c.kind == kindRead {
				return ok(`+CIPDNS:0,"208.67.222.222","8.8.8.8"`)
			}
			return ok()
		}, true
	case "+CIPMODE":
		return func(c *command) reply {
			if c.kind == kindRead {
				return ok("+CIPMODE:0")
			}
			if n, good := c.int(0); !good || n != 0 {
				return errorReply() // passthrough mode is not simulated
			}
			return ok()
		}, true
	case "+SYSLOG", "+SYSMSG", "+CWDHCP", "+CWAUTOCONN", "+UART_CUR", "+UART_DEF", "+CIPSNTPCFG",
		"+CIPSSLCSNI", "+SLEEP", "+CIPTCPOPT", "+CWHOSTNAME", "+CIPSTO":
		return func(*command) reply { return ok() }, true
	}
	return nil, false
}

func (d *esp) cwmodeCmd(c *command) reply {
	switch c.kind {
	case kindRead:
		return ok(fmt.Sprintf("+CWMODE:%d", d.cwmode))
	case kindSet:
		n, good := c.int(0)
		if !good || n < 0 || n > 3 {
			return errorReply()
		}
		d.cwmode = n
		return ok()
	}
	return ok("+CWMODE:(0-3)")
}

func (d *esp) cwjap(c *command) reply {
	m := d.m
	if c.kind == kindRead {
		if d.wifi == "" {
			return ok("No AP")
		}
		return ok(fmt.Sprintf(`+CWJAP:"%s","aa:bb:cc:dd:ee:ff",6,%d,0,0,0,0,0`, d.wifi, d.rssi(d.wifi)))
	}
	if c.kind != kindSet || c.str(0) == "" {
		return errorReply()
	}
	if d.cwmode != 1 && d.cwmode != 3 {
		return errorReply()
	}
	ssid, pwd := c.str(0), c.str(1)
	if len(m.cfg.WiFi) > 0 {
		found := false
		for _, ap := range m.cfg.WiFi {
			if ap.SSID != ssid {
				continue
			}
			found = true
			if ap.Password != "" && ap.Password != pwd {
				d.wifi = ""
				return reply{units: []unit{line("+CWJAP:2")}, final: "ERROR"}
			}
		}
		if !found {
			d.wifi = ""
			return reply{units: []unit{line("+CWJAP:3")}, final: "ERROR"}
		}
	}
	var us []unit
	if d.wifi != "" {
		us = append(us, line("WIFI DISCONNECT"))
	}
	d.wifi = ssid
	return reply{units: append(us, line("WIFI CONNECTED"), line("WIFI GOT IP")), final: "OK"}
}

func (d *esp) rssi(ssid string) int {
	for _, ap := range d.m.cfg.WiFi {
		if ap.SSID == ssid && ap.RSSI != 0 {
			return ap.RSSI
		}
	}
	return -50
}

func (d *esp) cwqap(*command) reply {
	m := d.m
	was := d.wifi != ""
	d.wifi = ""
	r := ok()
	r.after = func() {
		if was {
			d.dropLinks()
			m.urcLocked("WIFI DISCONNECT")
		}
	}
	return r
}

// dropLinks closes all links with their CLOSED URCs (Wi-Fi lost).
func (d *esp) dropLinks() {
	m := d.m
	for _, id := range sortedKeys(m.socks) {
		m.closeSockLocked(m.socks[id])
		m.urcLocked(d.closedLine(id))
	}
}

func (d *esp) cwlap(*command) reply {
	aps := d.m.cfg.WiFi
	if len(aps) == 0 {
		aps = []AP{{SSID: "iotd"}}
	}
	var lines []string
	for _, ap := range aps {
		rssi := ap.RSSI
		if rssi == 0 {
			rssi = -50
		}
		lines = append(lines, fmt.Sprintf(`+CWLAP:(3,"%s",%d,"aa:bb:cc:dd:ee:ff",6)`, ap.SSID, rssi))
	}
	return ok(lines...)
}

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
