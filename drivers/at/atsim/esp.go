package atsim

import (
	"fmt"
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

// previousSession: joined to an access point, in multi-link mode.
func (d *esp) previousSession() {
	d.mux = true
	if d.wifi == "" {
		d.wifi = "previous-session"
		if len(d.m.cfg.WiFi) > 0 {
			d.wifi = d.m.cfg.WiFi[0].SSID
		}
	}
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
