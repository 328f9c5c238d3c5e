package modem

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/at"
)

// The modem's status: what `iotd status` shows of it. The queries share
// the serial line with the sockets, so they go through the engine like
// any command (between two socket commands, never inside one) and run at
// most every statusMinAge: periodically while the modem is up, and on
// demand when the last answer is older. They use the 3GPP TS 27.007
// commands every cellular module answers; a Wi-Fi module (or a module
// with more to say) adds its own through [StatusReporter]. A query that
// fails keeps the last value, whose time the status carries.

// StatusReporter is an optional [Dialect] method: it fills in what the
// module reports beyond the 3GPP queries (a Wi-Fi module's network and
// signal; the common queries are not asked of a module that is not
// Cellular). It runs with the line shared like any other command, and
// sets st.NetworkAt and st.SignalAt for what it read.
type StatusReporter interface {
	Status(ctx context.Context, m *Modem, st *driver.ModemStatus) error
}

// Status refresh bounds: a refresh runs at most every StatusMinAge, and
// by itself every statusEvery while the modem is up. statusTimeout bounds
// one refresh (each command also has its own timeout).
const (
	StatusMinAge  = 30 * time.Second
	statusEvery   = time.Minute
	statusTimeout = 30 * time.Second
)

// statusMinAge is StatusMinAge, which a test may lower.
var statusMinAge atomic.Int64

func init() { statusMinAge.Store(int64(StatusMinAge)) }

// statusCache holds the last answers and what the module does not answer.
type statusCache struct {
	mu      sync.Mutex // guards the fields below
	st      driver.ModemStatus
	started time.Time     // the last refresh's start
	done    chan struct{} // closed when the refresh in progress ends
	// What the module answered before: the ICCID command that worked,
	// whether it has AT+CESQ and which registration families.
	iccidCmd  string
	formatSet bool
	noCESQ    bool
	noReg     map[string]bool
}

// Status returns the modem's state; with refresh it first asks the
// module, unless it did within statusMinAge, waiting for the answers at
// most until ctx ends (the queries go on to their end, so that none is
// abandoned on the wire).
func (m *Modem) Status(ctx context.Context, refresh bool) driver.ModemStatus {
	if refresh {
		if done := m.startRefresh(); done != nil {
			select {
			case <-done:
			case <-ctx.Done():
			}
		}
	}
	return m.statusSnapshot()
}

// statusSnapshot merges the cached answers with the bring-up's.
func (m *Modem) statusSnapshot() driver.ModemStatus {
	m.stat.mu.Lock()
	st := m.stat.st
	m.stat.mu.Unlock()
	m.mu.Lock()
	info, up, upErr, dead := m.info, m.upGen == m.gen && m.upErr == nil && m.dead == nil, m.upErr, m.dead
	m.mu.Unlock()
	st.Dialect, st.Port, st.Up = info.Dialect, m.cfg.Port, up
	st.Model, st.Firmware = info.Model, info.Revision
	switch {
	case dead != nil:
		st.Error = dead.Error()
	case upErr != nil:
		st.Error = upErr.Error()
	}
	return st
}

// startRefresh starts a refresh unless one runs or the last is recent, and
// returns a channel closed when the running or started one ends (nil when
// none runs).
func (m *Modem) startRefresh() <-chan struct{} {
	c := &m.stat
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done != nil {
		return c.done
	}
	if !c.started.IsZero() && time.Since(c.started) < time.Duration(statusMinAge.Load()) {
		return nil
	}
	if !m.isUp() {
		return nil
	}
	c.started = time.Now()
	done := make(chan struct{})
	c.done = done
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		ctx, cancel := context.WithTimeout(m.ctx, statusTimeout)
		err := m.refreshStatus(ctx)
		cancel()
		c.mu.Lock()
		c.st.Error = ""
		if err != nil && m.ctx.Err() == nil {
			c.st.Error = err.Error()
			m.log.Debug("at: status query failed; keeping the last values", "err", err)
		}
		c.done = nil
		c.mu.Unlock()
		close(done)
	}()
	return done
}

func (m *Modem) isUp() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.upGen == m.gen && m.upErr == nil && m.dead == nil
}

// watchStatus refreshes the status every statusEvery until the modem
// closes.
func (m *Modem) watchStatus() {
	defer m.wg.Done()
	t := time.NewTicker(statusEvery)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
			m.startRefresh()
		}
	}
}

// refreshStatus asks the module and stores what it answered.
func (m *Modem) refreshStatus(ctx context.Context) error {
	c := &m.stat
	c.mu.Lock()
	st := c.st
	c.mu.Unlock()
	var errs []error
	if m.t.Cellular {
		errs = append(errs, m.queryCellular(ctx, &st)...)
	}
	if sr, ok := m.d.(StatusReporter); ok {
		if err := sr.Status(ctx, m, &st); err != nil {
			errs = append(errs, err)
		}
	}
	c.mu.Lock()
	c.st = st
	c.mu.Unlock()
	return errors.Join(errs...)
}

// fatal reports an error after which no further query can work.
func fatal(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, driver.ErrBadConn) || errors.Is(err, at.ErrClosed)
}

// refused reports that the module does not know a command (as opposed to
// not answering in time).
func refused(err error) bool {
	var cme *at.CMEError
	return errors.Is(err, at.ErrError) || errors.As(err, &cme)
}

// queryCellular runs the 3GPP queries; each failure is one error, and
// the fields it would have set keep their last value.
func (m *Modem) queryCellular(ctx context.Context, st *driver.ModemStatus) []error {
	c := &m.stat
	var errs []error
	do := func(text string) (*at.Response, error) {
		r, err := m.Do(ctx, at.Command{Text: text, Prefix: "-"})
		if err != nil && !refused(err) {
			errs = append(errs, err)
		}
		return r, err
	}
	if st.IMEI == "" {
		if r, err := do("AT+CGSN"); err == nil {
			st.IMEI = parseIMEI(r.Lines)
		} else if fatal(ctx, err) {
			return errs
		}
	}
	if st.ICCID == "" {
		c.mu.Lock()
		cmds := []string{"AT+CCID", "AT+QCCID", "AT+CICCID", "AT+ICCID"}
		if c.iccidCmd != "" {
			cmds = []string{c.iccidCmd}
		}
		c.mu.Unlock()
		for _, cmd := range cmds {
			r, err := do(cmd)
			if err == nil {
				if id := parseICCID(r.Lines); id != "" {
					st.ICCID = id
					c.mu.Lock()
					c.iccidCmd = cmd
					c.mu.Unlock()
					break
				}
			} else if fatal(ctx, err) {
				return errs
			}
		}
	}

	// The network: the operator and its technology, and the registration.
	c.mu.Lock()
	formatSet := c.formatSet
	c.mu.Unlock()
	if !formatSet {
		// The long alphanumeric name; a module that keeps another
		// format still answers, in it.
		if _, err := do("AT+COPS=3,0"); err == nil || refused(err) {
			c.mu.Lock()
			c.formatSet = true
			c.mu.Unlock()
		}
	}
	network := false
	act := -1
	if r, err := do("AT+COPS?"); err == nil {
		for _, l := range r.Lines {
			if op, a, ok := parseCOPS(l); ok {
				st.Operator, act, network = op, a, true
			}
		}
	} else if fatal(ctx, err) {
		return errs
	}
	stat, regAct := -1, -1
	for _, q := range regFamilies {
		c.mu.Lock()
		skip := c.noReg[q]
		c.mu.Unlock()
		if skip {
			continue
		}
		r, err := do(q)
		if err != nil {
			if fatal(ctx, err) {
				return errs
			}
			if refused(err) {
				c.mu.Lock()
				if c.noReg == nil {
					c.noReg = map[string]bool{}
				}
				c.noReg[q] = true
				c.mu.Unlock()
			}
			continue
		}
		prefix := strings.TrimSuffix(strings.TrimPrefix(q, "AT"), "?")
		for _, l := range r.Lines {
			s, a, ok := parseReg(l, prefix)
			if !ok {
				continue
			}
			network = true
			// The first family that is registered wins; else the
			// first that answered.
			if stat < 0 || (!registered(stat) && registered(s)) {
				stat, regAct = s, a
			}
		}
		if registered(stat) {
			break
		}
	}
	if network {
		if stat >= 0 {
			st.Registration = regState(stat)
		}
		if act < 0 {
			act = regAct
		}
		if act >= 0 {
			st.Technology = accessTech(act)
		} else if !registered(stat) {
			st.Technology = ""
		}
		if !registered(stat) && stat >= 0 {
			st.Operator = ""
		}
		st.NetworkAt = time.Now()
	}

	// The signal.
	signal := false
	if r, err := do("AT+CSQ"); err == nil {
		for _, l := range r.Lines {
			if rssi, ok := at.ArgInt(at.SplitArgs(l, "+CSQ"), 0); ok {
				st.RSSI, signal = csqToSignal(rssi).RSSI, true
			}
		}
	} else if fatal(ctx, err) {
		return errs
	}
	c.mu.Lock()
	noCESQ := c.noCESQ
	c.mu.Unlock()
	if !noCESQ {
		r, err := do("AT+CESQ")
		switch {
		case err == nil:
			for _, l := range r.Lines {
				if rsrp, rsrq, ok := parseCESQ(l); ok {
					st.RSRP, st.RSRQ, signal = rsrp, rsrq, true
				}
			}
		case refused(err):
			c.mu.Lock()
			c.noCESQ = true
			c.mu.Unlock()
		}
	}
	if signal {
		st.SignalAt = time.Now()
	}
	return errs
}

func registered(stat int) bool {
	return stat == 1 || stat == 5 || (stat >= 6 && stat <= 10 && stat != 8)
}

// regState names a 27.007 registration stat (+CREG, +CGREG, +CEREG).
func regState(stat int) string {
	switch stat {
	case 0:
		return "not registered"
	case 1, 6, 9:
		return "home"
	case 2:
		return "searching"
	case 3:
		return "denied"
	case 5, 7, 10:
		return "roaming"
	case 8:
		return "emergency only"
	}
	return "unknown"
}

// accessTech names a 27.007 <AcT>. 8 is EC-GSM-IoT in 27.007 but LTE
// Cat-M1 on the Quectel BG96 (its AT manual, AT+COPS), which is the module
// iotd meets; EC-GSM-IoT is all but unused.
func accessTech(act int) string {
	switch act {
	case 0, 1:
		return "GSM"
	case 2:
		return "UMTS"
	case 3:
		return "EDGE"
	case 4, 5, 6:
		return "HSPA"
	case 7:
		return "LTE"
	case 8:
		return "LTE Cat-M1"
	case 9:
		return "NB-IoT"
	case 10:
		return "LTE (5GC)"
	case 11, 12:
		return "NR"
	case 13:
		return "LTE+NR"
	}
	return "AcT " + strconv.Itoa(act)
}

var (
	iccidRe = regexp.MustCompile(`^[0-9]{18,20}[0-9A-Fa-f]?$`)
	imeiRe  = regexp.MustCompile(`^[0-9]{14,17}$`)
)

// parseICCID finds the ICCID in the answer of AT+CCID, AT+QCCID,
// AT+CICCID or AT+ICCID: "+CCID: 8986…", "+ICCID: 8986…" (SIMCom answers
// AT+CCID so) or the bare number; "" when there is none.
func parseICCID(lines []string) string {
	for _, l := range lines {
		v := l
		if strings.HasPrefix(l, "+") {
			_, after, ok := strings.Cut(l, ":")
			if !ok {
				continue
			}
			v = after
		}
		v = strings.Trim(strings.TrimSpace(v), `"`)
		if iccidRe.MatchString(v) {
			return v
		}
	}
	return ""
}

// parseIMEI finds the IMEI in the answer of AT+CGSN: the bare number or
// "+CGSN: <imei>".
func parseIMEI(lines []string) string {
	for _, l := range lines {
		v := l
		if after, ok := strings.CutPrefix(l, "+CGSN:"); ok {
			v = after
		}
		v = strings.Trim(strings.TrimSpace(v), `"`)
		if imeiRe.MatchString(v) {
			return v
		}
	}
	return ""
}

// parseCOPS parses "+COPS: <mode>[,<format>,<oper>[,<AcT>]]"; act is -1
// when absent. A registered module names its operator; one that is not
// answers with the mode only (operator "").
func parseCOPS(line string) (oper string, act int, ok bool) {
	a := at.SplitArgs(line, "+COPS")
	if _, good := at.ArgInt(a, 0); !good {
		return "", -1, false
	}
	act = -1
	if len(a) >= 3 {
		oper = printableField(a[2])
	}
	if v, good := at.ArgInt(a, 3); good && v >= 0 {
		act = v
	}
	return oper, act, true
}

// parseReg parses a registration read answer, "+CEREG: <n>,<stat>[,<tac>,
// <ci>[,<AcT>]]" (and +CREG, +CGREG, whose extra fields are alike up to
// AcT); act is -1 when absent.
func parseReg(line, prefix string) (stat, act int, ok bool) {
	a := at.SplitArgs(line, prefix)
	if len(a) < 2 {
		return 0, -1, false
	}
	stat, ok = at.ArgInt(a, 1)
	if !ok || stat < 0 {
		return 0, -1, false
	}
	act = -1
	if v, good := at.ArgInt(a, 4); good && v >= 0 {
		act = v
	}
	return stat, act, true
}

// parseCESQ parses "+CESQ: <rxlev>,<ber>,<rscp>,<ecno>,<rsrq>,<rsrp>"
// into RSRP in dBm (index − 141: 0 is below −140, 97 is −44 or more) and
// RSRQ in dB (index/2 − 20: 0 is below −19.5, 34 is −3 or more); 255, not
// known, gives 0. ok is false for a line that is no +CESQ answer.
func parseCESQ(line string) (rsrp int, rsrq float64, ok bool) {
	a := at.SplitArgs(line, "+CESQ")
	if len(a) < 6 {
		return 0, 0, false
	}
	q, ok1 := at.ArgInt(a, 4)
	p, ok2 := at.ArgInt(a, 5)
	if !ok1 || !ok2 {
		return 0, 0, false
	}
	if p >= 0 && p <= 97 {
		rsrp = p - 141
	}
	if q >= 0 && q <= 34 {
		rsrq = float64(q)/2 - 20
	}
	return rsrp, rsrq, true
}

// printableField keeps a module's string safe to show: printable ASCII and
// UTF-8, at most 64 bytes.
func printableField(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
	if len(s) > 64 {
		s = strings.ToValidUTF8(s[:64], "")
	}
	return s
}
