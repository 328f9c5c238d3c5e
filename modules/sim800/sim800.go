package sim800

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/at"
	"github.com/iotd/iotd/drivers/at/modem"
)

// sim800 keeps no state: the modem serialises nothing beyond its engine,
// so every method works from its arguments (modem.Dialect).
type sim800 struct{}

// Name is the dialect's name: the driver is "at.sim800".
const Name = "sim800"

// maxData is the most one AT+CIPSEND takes in multi-IP mode on GPRS
// (AT+CIPSEND? answers 1460) and the most one AT+CIPRXGET=2 returns.
const maxData = 1460

// Bounds of the slow commands ([M] chapter 8, testdata/sim800.md §8): the
// activation up to 85 s, a multi-IP connect up to 75 s, the shut up to
// 60 s. Each has a few seconds of margin.
const (
	shutTimeout    = 65 * time.Second
	activateWait   = 90 * time.Second
	connectWait    = 80 * time.Second
	closeTimeout   = 15 * time.Second
	resolveTimeout = 30 * time.Second
)

func init() { modem.MustRegister(New) }

// New returns the dialect, for [modem.Register] (which init has done).
func New() modem.Dialect { return sim800{} }

func (sim800) Traits() modem.Traits {
	return modem.Traits{
		Name: Name,
		// ATI says "SIM800 R14.18", AT+GMR "Revision:1418B05SIM800L24",
		// AT+CGMI "SIMCOM_Ltd": the last also names the simcom dialect,
		// so these words are longer than its "simcom".
		Identify: []string{"sim800 r", "sim800l", "sim800c", "sim800h", "simcom_sim800"},
		Finals:   finals(),
		Cellular: true,
		// Printed at boot when the baud rate is fixed (AT+IPR=<rate>);
		// a module left autobauding prints nothing, and its reboot shows
		// as sockets that fail and a dial that brings it up again.
		Banners: []string{"RDY"},
		Limits: modem.Limits{
			Sockets: links, MaxSend: maxData, MaxRead: maxData,
		},
	}
}

// finals are the results that end a SIM800 command besides OK and ERROR:
// AT+CIPSHUT's "SHUT OK", and per connection number AT+CIPSEND's
// "<n>, SEND OK"/"<n>, SEND FAIL" and AT+CIPCLOSE's "<n>, CLOSE OK" (with
// and without the space, §9.1), and AT+CIPQSEND=1's "DATA ACCEPT:<n>,<len>"
// should a module have quick send on. The engine matches finals exactly or
// by prefix, and "<n>, CLOSED" (a URC) must not be one, so each number
// gets its own.
func finals() []at.Final {
	fs := []at.Final{{Text: "SHUT OK"}, {Text: "DATA ACCEPT:", Prefix: true}}
	for n := range links {
		for _, sep := range []string{", ", ","} {
			lead := strconv.Itoa(n) + sep
			fs = append(fs,
				at.Final{Text: lead + "SEND OK"},
				at.Final{Text: lead + "SEND FAIL", Fail: true},
				at.Final{Text: lead + "CLOSE OK"})
		}
	}
	return fs
}

func (sim800) URCs(m *modem.Modem) []at.URC {
	closed := func(line string) int {
		if id, text, ok := linkResult(line); ok && text == "CLOSED" {
			m.RemoteClosed(id, nil)
		}
		return 0
	}
	var pushID int
	us := []at.URC{
		{Prefix: "+CIPRXGET: 1,", Line: func(line string) int {
			if id, ok := at.ArgInt(at.SplitArgs(line, "+CIPRXGET"), 1); ok {
				m.Readable(id)
			}
			return 0
		}},
		{Prefix: "+PDP: DEACT", Line: func(string) int {
			m.Log().Warn("at: the network deactivated the data context (+PDP: DEACT); sockets are gone")
			m.BearerLost(fmt.Errorf("%w: the network deactivated the data context (+PDP: DEACT)", driver.ErrBadConn))
			return 0
		}},
		{
			// Push mode, should the module be in it: the data follows.
			Prefix: "+RECEIVE,",
			Line: func(line string) int {
				id, n, ok := receiveHeader(line)
				if !ok {
					return 0
				}
				pushID = id
				return n
			},
			Data: func(_ string, data []byte) { m.Pushed(pushID, data) },
		},
	}
	for n := range links {
		for _, sep := range []string{", ", ","} {
			us = append(us, at.URC{Prefix: strconv.Itoa(n) + sep + "CLOSED", Line: closed})
		}
	}
	return us
}

// Attach resets the TCP/IP stack and brings it up in multi-IP, manual
// receive mode: AT+CIPSHUT, AT+CIPMUX=1, AT+CIPRXGET=1, AT+CSTT, AT+CIICR,
// AT+CIFSR. The shut comes first whatever the state: AT+CIPMUX and
// AT+CIPRXGET are refused once the stack has moved on or a connection is
// held, and PDP DEACT is left by nothing else.
func (sim800) Attach(ctx context.Context, m *modem.Modem) error {
	c := m.Config()
	if _, err := m.Do(ctx, at.Command{Text: "AT+CIPSHUT", Timeout: shutTimeout}); err != nil {
		return fmt.Errorf("at: resetting the TCP/IP stack (AT+CIPSHUT): %w", err)
	}
	if _, err := m.Do(ctx, at.Command{Text: "AT+CIPMUX=1"}); err != nil {
		return fmt.Errorf("at: selecting multi-IP mode (AT+CIPMUX=1) after AT+CIPSHUT: %w", err)
	}
	if _, err := m.Do(ctx, at.Command{Text: "AT+CIPRXGET=1"}); err != nil {
		return fmt.Errorf("at: selecting manual receive (AT+CIPRXGET=1): %w", err)
	}
	// Secret: its arguments hold the password, so traces, logs and
	// errors show the command's name only.
	if _, err := m.Do(ctx, at.Command{Text: "AT+CSTT=" + at.Quote(c.APN) + "," + at.Quote(c.User) + "," + at.Quote(c.Password), Secret: true}); err != nil {
		return modem.AttachError("setting the APN (AT+CSTT)", err)
	}
	if _, err := m.Do(ctx, at.Command{Text: "AT+CIICR", Timeout: activateWait}); err != nil {
		return modem.AttachError("activating the data context (AT+CIICR)", err)
	}
	if _, err := localIP(ctx, m); err != nil {
		return modem.AttachError("reading the address (AT+CIFSR)", err)
	}
	return nil
}

// localIP reads the context's address with AT+CIFSR, which AT+CIPSTART
// needs first in multi-IP mode (it moves IP GPRSACT to IP STATUS). The
// module answers the bare address and no final result; ";E0" appends
// ATE0's OK, which ends the command (TinyGSM does the same).
func localIP(ctx context.Context, m *modem.Modem) (netip.Addr, error) {
	r, err := m.Do(ctx, at.Command{Text: "AT+CIFSR;E0", Prefix: "-"})
	if err != nil {
		return netip.Addr{}, err
	}
	for _, l := range r.Lines {
		if ip, err := netip.ParseAddr(l); err == nil {
			return ip, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("at: AT+CIFSR answered no address")
}

func (sim800) Signal(ctx context.Context, m *modem.Modem) (driver.Signal, error) {
	return modem.CSQ(ctx, m)
}
