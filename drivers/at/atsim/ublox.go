package atsim

import (
	"fmt"
	"time"
)

// u-blox SARA-R4/R5 limits (AT-MODEMS.md §1.7).
const (
	ubloxMaxSockets = 7
	ubloxMaxData    = 1024
	ubloxMaxHex     = 512
	// ubloxGuard: data sent sooner after the "@" prompt is lost.
	ubloxGuard = 50 * time.Millisecond
)

// errno values of +UUSOCO, +USOER and USOCTL param 1.
const (
	errnoNone        = 0
	errnoHostUnreach = 113
	errnoRefused     = 111
	errnoTimeout     = 110
	errnoNotConn     = 107
)

type ublox struct {
	m       *Modem
	hexMode bool // AT+UDCONF=1,1
	psd     bool // AT+UPSDA=0,3 done
	// auth holds AT+UAUTHREQ's settings by cid. The module keeps them
	// in NVM (the manual's "Settings saved"), so a reboot keeps them.
	auth map[int]ubloxAuth
}

// ubloxAuth is one context's AT+UAUTHREQ setting.
type ubloxAuth struct {
	kind           int // <auth_type>: 0 none, 1 PAP, 2 CHAP, 3 automatic
	user, password string
}

func newUBlox(m *Modem) dialect { return &ublox{m: m, auth: map[int]ubloxAuth{}} }

func (d *ublox) reset() { d.hexMode, d.psd = false, false }

// banner: SARA-R4 prints no greeting by default, only NUL bytes on the
// line while it reboots.
func (d *ublox) banner() []unit { return []unit{unit("\x00\x00\x00")} }
func (d *ublox) noise() string  { return "+CIEV: 2,3" }
func (d *ublox) escapes() bool  { return false }
func (d *ublox) promptGuard() time.Duration {
	if d.m.cfg.PromptGuard > 0 {
		return d.m.cfg.PromptGuard
	}
	return ubloxGuard
}
func (d *ublox) act() int { return 7 }

func (d *ublox) info(name string) ([]string, bool) {
	switch name {
	case "I":
		return []string{"Manufacturer: u-blox", "Model: SARA-R410M-02B", "Revision: L0.0.00.00.05.12",
			"SVN: 02", "IMEI: 352753090000001"}, true
	case "+CGMI", "+GMI":
		return []string{"u-blox"}, true
	case "+CGMM", "+GMM":
		return []string{"SARA-R410M-02B"}, true
	case "+CGMR", "+GMR":
		return []string{"L0.0.00.00.05.12 [Mar 09 2022 17:00:00]"}, true
	case "+CGSN", "+GSN":
		return []string{"352753090000001"}, true
	case "+CIMI":
		return []string{"460001234567892"}, true
	case "+CCID":
		return []string{"+CCID: 89860012345678901236"}, true
	}
	return nil, false
}

func (d *ublox) handler(name string) (handler, bool) {
	m := d.m
	switch name {
	case "+CFUN":
		return func(c *command) reply {
			if n, good := c.int(0); c.kind == kindSet && good && (n == 15 || n == 16) {
				r := ok() // reset
				r.after = m.rebootLocked
				return r
			}
			return m.cmdCFUN(c)
		}, true
	case "+UPSD":
		return func(c *command) reply {
			if c.kind != kindSet || !c.has(0) {
				return m.cmeLocked(50)
			}
			return ok()
		}, true
	case "+UAUTHREQ":
		return d.uauthreq, true
	case "+CGACT":
		return func(c *command) reply {
			if st, good := c.int(0); c.kind == kindSet && good && st == 1 && m.regStat().registered() {
				if id, good := c.intOr(1, 1); good && !d.authOK(id) {
					return m.cmeLocked(149)
				}
			}
			return m.cmdCGACT(c)
		}, true
	case "+UPSDA":
		return d.upsda, true
	case "+UPSND":
		return d.upsnd, true
	case "+USOCR":
		return d.usocr, true
	case "+USOCO":
		return d.usoco, true
	case "+USOWR":
		return func(c *command) reply { return d.write(c, false) }, true
	case "+USOST":
		return func(c *command) reply { return d.write(c, true) }, true
	case "+USORD":
		return func(c *command) reply { return d.read(c, false) }, true
	case "+USORF":
		return func(c *command) reply { return d.read(c, true) }, true
	case "+USOCL":
		return d.usocl, true
	case "+USOCTL":
		return d.usoctl, true
	case "+USOER":
		return func(*command) reply { return ok(fmt.Sprintf("+USOER: %d", m.lastErr)) }, true
	case "+UDNSRN":
		return d.udnsrn, true
	case "+CESQ":
		return d.cesq, true
	case "+UDCONF":
		return d.udconf, true
	case "+USOSEC", "+USECPRF", "+USECMNG":
		return func(*command) reply { return m.cmeLocked(4) }, true // module TLS is not simulated
	case "+USOSO", "+UMNOPROF", "+URAT", "+UBANDMASK", "+CPSMS", "+CEDRXS", "+USIO", "+UGPIOC", "+CSGT", "+UPSV":
		return func(*command) reply { return ok() }, true
	}
	return nil, false
}

// upsda: AT+UPSDA=0,3 activates the PSD profile (OK, then +UUPSDA),
// AT+UPSDA=0,4 deactivates it.
func (d *ublox) upsda(c *command) reply {
	m := d.m
	action, good := c.int(1)
	if c.kind != kindSet || !good {
		return m.cmeLocked(50)
	}
	switch action {
	case 3:
		if !m.regStat().registered() {
			return m.cmeLocked(30)
		}
		if !d.authOK(1) {
			return m.cmeLocked(149)
		}
		d.psd = true
		p := m.ctxLocked(1)
		p.active = true
		r := ok()
		r.after = func() { m.urcLocked(fmt.Sprintf(`+UUPSDA: 0,"%s"`, p.ip)) }
		return r
	case 4:
		d.psd = false
		m.ctxLocked(1).active = false
		m.dropSocketsLocked()
		return ok()
	}
	return ok()
}

// uauthreq: AT+UAUTHREQ=<cid>,<auth_type>[,<password>,<username>] sets
// the credentials a context's activation sends (as PCO). The simulated
// module is a SARA-R410M, whose firmware takes the password first — the
// SARA-R5 takes <username>,<password>, the order the manuals show (u-blox
// SARA-R4 AT commands manual UBX-17003787 and SARA-R5 UBX-19047455,
// "+UAUTHREQ"; for the R4's reversed order: u-blox's ubxlib, u_cell_net.c,
// and Arduino's MKRNB library). auth_type is 0 none, 1 PAP, 2 CHAP, 3
// automatic; 0 clears the strings. The module refuses the command for a
// context that is not defined (AT+CGDCONT) or is active.
func (d *ublox) uauthreq(c *command) reply {
	m := d.m
	if c.kind == kindTest {
		return ok("+UAUTHREQ: (1-8),(0-3),,")
	}
	id, good := c.int(0)
	kind, good2 := c.int(1)
	if c.kind != kindSet || !good || !good2 || id < 1 || id > 8 || kind < 0 || kind > 3 || len(c.args) > 4 {
		return m.cmeLocked(50)
	}
	if p, found := m.pdp[id]; !found || p.active {
		return m.cmeLocked(3)
	}
	a := ubloxAuth{kind: kind}
	if kind != 0 {
		a.password, a.user = c.str(2), c.str(3)
	}
	d.auth[id] = a
	return ok()
}

// authOK reports whether context id may be activated: the network wants
// no credentials (Config.APNUser and APNPassword empty), or AT+UAUTHREQ
// gave the context those it wants.
func (d *ublox) authOK(id int) bool {
	cfg := d.m.cfg
	if cfg.APNUser == "" && cfg.APNPassword == "" {
		return true
	}
	a := d.auth[id]
	if a.kind != 0 && a.user == cfg.APNUser && a.password == cfg.APNPassword {
		return true
	}
	d.m.log.Debug("atsim: activation refused: the APN credentials are missing or wrong", "cid", id)
	return false
}

// upsnd: AT+UPSND=0,0 → IP; AT+UPSND=0,8 → activation state.
func (d *ublox) upsnd(c *command) reply {
	m := d.m
	param, good := c.int(1)
	if c.kind != kindSet || !good {
		return m.cmeLocked(50)
	}
	switch param {
	case 0:
		if !d.psd {
			return m.cmeLocked(3)
		}
		return ok(fmt.Sprintf(`+UPSND: 0,0,"%s"`, m.ctxLocked(1).ip))
	case 8:
		return ok(fmt.Sprintf("+UPSND: 0,8,%d", b2i(d.psd)))
	}
	return m.cmeLocked(50)
}

// cesq answers AT+CESQ, which SARA-R4 has (u-blox SARA-R4 AT commands
// manual UBX-17003787, "+CESQ"): on LTE, rxlev and ber 99, rscp and ecno
// 255, then RSRQ and RSRP as 27.007 indices (255 when not known). The
// RSRP follows the simulated CSQ: about 22 dB below the RSSI, the usual
// gap on a lightly loaded LTE cell; the RSRQ is a steady −10 dB.
func (d *ublox) cesq(c *command) reply {
	m := d.m
	switch c.kind {
	case kindTest:
		return ok("+CESQ: (0-63,99),(0-7,99),(0-96,255),(0-49,255),(0-34,255),(0-97,255)")
	case kindExec:
		rsrq, rsrp := 255, 255
		if m.regStat().registered() && m.signal >= 0 && m.signal <= 31 {
			rsrq, rsrp = 20, 6+2*m.signal
		}
		return ok(fmt.Sprintf("+CESQ: 99,99,255,255,%d,%d", rsrq, rsrp))
	}
	return m.cmeLocked(50)
}
