package atsim

import (
	"fmt"
	"time"
)

// DialectSIM800 is SIMCom's SIM800 (SIM800L/C/H), a 2G GSM/GPRS module
// with the CSTT/CIICR/CIPSTART TCP/IP stack; testdata/sim800.md lists the
// commands as simulated, with their sources.
const DialectSIM800 = "sim800"

// SIM800 limits (testdata/sim800.md §4, §5).
const (
	sim800MaxLinks = 6    // connection numbers 0..5 in multi-IP mode
	sim800MaxSend  = 1460 // AT+CIPSEND? in multi-IP mode on GPRS
	sim800MaxRead  = 1460 // AT+CIPRXGET=2
)

// sim800State is the TCP/IP stack state of AT+CIPSTATUS (multi-IP).
type sim800State int

const (
	s8Initial  sim800State = iota // IP INITIAL
	s8Start                       // IP START: AT+CSTT done
	s8GPRSAct                     // IP GPRSACT: AT+CIICR done
	s8Status                      // IP STATUS: AT+CIFSR done (IP PROCESSING once a link was used)
	s8PDPDeact                    // PDP DEACT: the network dropped the context
)

// sim800Link is what AT+CIPSTATUS shows for one connection number; it
// outlives the socket ("CLOSED" until AT+CIPSHUT).
type sim800Link struct {
	proto, ip string
	port      int
	state     string // "" (INITIAL), CONNECTING, CONNECTED, CLOSED
}

type sim800 struct {
	m      *Modem
	state  sim800State
	mux    bool
	manual bool // AT+CIPRXGET=1
	qsend  bool // AT+CIPQSEND=1
	apn    [3]string
	links  [sim800MaxLinks]sim800Link
}

func newSIM800(m *Modem) dialect { return &sim800{m: m} }

func (d *sim800) reset() {
	*d = sim800{m: d.m}
}

// previousSession: multi-IP mode, manual receive, the context up and the
// held sockets connected (IP PROCESSING).
func (d *sim800) previousSession() {
	m := d.m
	d.mux, d.manual, d.state = true, true, s8Status
	m.ctxLocked(1).active = true
	for id, s := range m.socks {
		s.mode = 1
		if id < sim800MaxLinks {
			d.links[id] = sim800Link{proto: s.proto, ip: s.host, port: s.port, state: "CONNECTED"}
		}
	}
}

// banner: "RDY" is printed only when the baud rate is fixed (AT+IPR=n);
// the simulated module has one, as a host configures it.
func (d *sim800) banner() []unit {
	us := []unit{line("RDY"), line("+CFUN: 1")}
	switch d.m.sim {
	case SIMReady:
		return append(us, line("+CPIN: READY"), line("Call Ready"), line("SMS Ready"))
	case SIMPIN:
		return append(us, line("+CPIN: SIM PIN"))
	}
	return append(us, line("+CPIN: NOT INSERTED"))
}

func (d *sim800) noise() string              { return `*PSUTTZ: 2026,11,26,14,30,0,"+32",0` }
func (d *sim800) escapes() bool              { return false }
func (d *sim800) promptGuard() time.Duration { return 0 }
func (d *sim800) act() int                   { return 0 } // 2G: no AcT field, see reg

func (d *sim800) info(name string) ([]string, bool) {
	switch name {
	case "I":
		return []string{"SIM800 R14.18"}, true
	case "+CGMI", "+GMI":
		return []string{"SIMCOM_Ltd"}, true
	case "+CGMM", "+GMM":
		return []string{"SIMCOM_SIM800L"}, true
	case "+CGMR", "+GMR":
		return []string{"Revision:1418B05SIM800L24"}, true
	case "+CGSN", "+GSN":
		return []string{"864369032292264"}, true
	case "+CIMI":
		return []string{"460001234567892"}, true
	case "+CCID":
		return []string{"89860012345678901236"}, true
	}
	return nil, false
}

func (d *sim800) handler(name string) (handler, bool) {
	m := d.m
	switch name {
	case "+CEREG", "+ICCID", "+QCCID", "+CGPADDR":
		return func(*command) reply { return errorReply() }, true // not on a 2G module
	case "+CREG", "+CGREG":
		return func(c *command) reply { return d.reg(name, c) }, true
	case "+COPS":
		return func(c *command) reply {
			if c.kind == kindRead && m.regStat().registered() {
				return ok(`+COPS: 0,0,"iotd sim"`)
			}
			h, _ := m.commonHandler("+COPS")
			return h(c)
		}, true
	case "+CIPMUX":
		return d.cipmux, true
	case "+CIPRXGET":
		return d.ciprxget, true
	case "+CIPQSEND":
		return d.flag("+CIPQSEND", &d.qsend), true
	case "+CSTT":
		return d.cstt, true
	case "+CIICR":
		return d.ciicr, true
	case "+CIFSR":
		return d.cifsr, true
	case "+CIPSHUT":
		return d.cipshut, true
	case "+CIPSTATUS":
		return d.cipstatus, true
	case "+CIPSTART":
		return d.cipstart, true
	case "+CIPSEND":
		return d.cipsend, true
	case "+CIPCLOSE":
		return d.cipclose, true
	case "+CDNSGIP":
		return d.cdnsgip, true
	case "+CIPMODE", "+CIPHEAD", "+CIPSRIP", "+CIPSSL", "+CIPSHOWTP":
		// Only the 0 (off) setting is simulated: transparent mode,
		// receive headers with the peer's address and SSL are not.
		return func(c *command) reply {
			if n, good := c.int(0); c.kind == kindSet && (!good || n != 0) {
				return errorReply()
			}
			if c.kind == kindRead {
				return ok(name + ": 0")
			}
			return ok()
		}, true
	case "+CDNSCFG", "+CIPSPRT", "+CIPATS", "+CLPORT", "+CIPTKA", "+CIPDPDP", "+CIPSCONT",
		"+CIURC", "+CLTS", "+CSCLK", "+CBATCHK", "+GSMBUSY", "+CNETLIGHT", "+CIPUDPMODE":
		return func(*command) reply { return ok() }, true
	case "+CPOWD":
		return func(*command) reply {
			r := reply{units: []unit{line("NORMAL POWER DOWN")}}
			r.after = m.rebootLocked // a power key press brings it back
			return r
		}, true
	}
	return nil, false
}

// flag handles a 0/1 setting with a read form.
func (d *sim800) flag(name string, v *bool) handler {
	return func(c *command) reply {
		switch c.kind {
		case kindRead:
			return ok(fmt.Sprintf("%s: %d", name, b2i(*v)))
		case kindTest:
			return ok(name + ": (0,1)")
		case kindSet:
			n, good := c.int(0)
			if !good || n < 0 || n > 1 {
				return errorReply()
			}
			*v = n == 1
			return ok()
		}
		return errorReply()
	}
}

// reg: +CREG/+CGREG without the AcT field of 3G/4G modules.
func (d *sim800) reg(name string, c *command) reply {
	m := d.m
	if c.kind != kindRead {
		return m.cmdReg(name, c)
	}
	n, st := m.regURC[name], m.regStat().stat()
	if n >= 2 && (st == 1 || st == 5) {
		return ok(fmt.Sprintf(`%s: %d,%d,"1A2B","01C2"`, name, n, st))
	}
	return ok(fmt.Sprintf("%s: %d,%d", name, n, st))
}

// stateName is the <state> of AT+CIPSTATUS in multi-IP mode.
func (d *sim800) stateName() string {
	switch d.state {
	case s8Start:
		return "IP START"
	case s8GPRSAct:
		return "IP GPRSACT"
	case s8Status:
		for _, l := range d.links {
			if l.state != "" {
				return "IP PROCESSING"
			}
		}
		return "IP STATUS"
	case s8PDPDeact:
		return "PDP DEACT"
	}
	return "IP INITIAL"
}

// cipmux: AT+CIPMUX=1 takes effect only in IP INITIAL; elsewhere ERROR.
func (d *sim800) cipmux(c *command) reply {
	switch c.kind {
	case kindRead:
		return ok(fmt.Sprintf("+CIPMUX: %d", b2i(d.mux)))
	case kindTest:
		return ok("+CIPMUX: (0,1)")
	case kindSet:
		n, good := c.int(0)
		if !good || n < 0 || n > 1 || d.state != s8Initial {
			return errorReply()
		}
		d.mux = n == 1
		return ok()
	}
	return errorReply()
}

// cstt: AT+CSTT[="apn"[,"user","pwd"]] in IP INITIAL → IP START.
func (d *sim800) cstt(c *command) reply {
	switch c.kind {
	case kindRead:
		return ok(fmt.Sprintf(`+CSTT: "%s","%s","%s"`, d.apn[0], d.apn[1], d.apn[2]))
	case kindTest:
		return ok(`+CSTT: "APN","USER","PWD"`)
	}
	if d.state != s8Initial || d.m.sim != SIMReady {
		return errorReply()
	}
	d.apn = [3]string{"CMNET", "", ""}
	if c.kind == kindSet {
		d.apn = [3]string{c.str(0), c.str(1), c.str(2)}
	}
	d.state = s8Start
	return ok()
}

// ciicr: AT+CIICR in IP START brings the context up → IP GPRSACT.
func (d *sim800) ciicr(c *command) reply {
	m := d.m
	if c.kind == kindTest {
		return ok()
	}
	if c.kind != kindExec || d.state != s8Start {
		return errorReply()
	}
	if !m.regStat().registered() {
		return errorReply() // no GPRS service: the activation fails
	}
	p := m.ctxLocked(1)
	p.apn, p.active = d.apn[0], true
	d.state = s8GPRSAct
	return ok()
}

// cifsr: the bare IP address and no final result; ERROR without a
// context. It moves IP GPRSACT to IP STATUS.
func (d *sim800) cifsr(c *command) reply {
	m := d.m
	if c.kind == kindTest {
		return ok()
	}
	if c.kind != kindExec || (d.state != s8GPRSAct && d.state != s8Status) {
		return errorReply()
	}
	d.state = s8Status
	return reply{units: []unit{line(m.ctxLocked(1).ip)}, more: true}
}

// cipshut: closes every connection and the context → IP INITIAL.
func (d *sim800) cipshut(c *command) reply {
	m := d.m
	if c.kind == kindTest {
		return ok()
	}
	if c.kind != kindExec {
		return errorReply()
	}
	m.dropSocketsLocked()
	m.ctxLocked(1).active = false
	d.state = s8Initial
	d.links = [sim800MaxLinks]sim800Link{}
	return reply{final: "SHUT OK"}
}

// cdnsgip: OK, then +CDNSGIP: 1,"<name>","<ip>" or +CDNSGIP: 0,<err>.
func (d *sim800) cdnsgip(c *command) reply {
	m := d.m
	name := c.str(0)
	if c.kind != kindSet || name == "" || (d.state != s8GPRSAct && d.state != s8Status) {
		return errorReply()
	}
	r := ok()
	r.after = func() {
		m.goAsync(func() {
			ip, err := m.resolve(name)
			m.mu.Lock()
			defer m.mu.Unlock()
			switch {
			case m.closed:
			case err != nil:
				m.urcLocked("+CDNSGIP: 0,8") // 8: DNS common error
			default:
				m.urcLocked(fmt.Sprintf(`+CDNSGIP: 1,"%s","%s"`, name, ip))
			}
		})
	}
	return r
}

// bearerLost: the network deactivated the context: every connection is
// gone, the stack is in PDP DEACT until AT+CIPSHUT, and the module says
// only "+PDP: DEACT".
func (d *sim800) bearerLost() {
	m := d.m
	if d.state != s8GPRSAct && d.state != s8Status {
		return
	}
	m.dropSocketsLocked()
	m.ctxLocked(1).active = false
	for i := range d.links {
		if d.links[i].state != "" {
			d.links[i].state = "CLOSED"
		}
	}
	d.state = s8PDPDeact
	m.urcLocked("+PDP: DEACT")
}
