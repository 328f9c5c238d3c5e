package modem

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/iotd/iotd/drivers/at"
)

// pollInterval is how often registration and SIM state are polled.
const pollInterval = 500 * time.Millisecond

// bringUp takes the modem from an unknown state (echo on, a half-typed
// command, data mode, sockets left open) to ready for sockets.
func (m *Modem) bringUp(ctx context.Context) (Info, error) {
	info := Info{Dialect: m.t.Name}
	if err := m.sync(ctx); err != nil {
		return info, err
	}
	m.mu.Lock()
	m.synced = true
	m.mu.Unlock()
	if _, err := m.Do(ctx, at.Command{Text: "ATE0"}); err != nil {
		return info, fmt.Errorf("at: turning echo off: %w", err)
	}
	if m.t.Cellular {
		// Numeric CME errors map to causes; a module without CMEE is fine.
		_, _ = m.Do(ctx, at.Command{Text: "AT+CMEE=1"})
		info.Model = m.infoLine(ctx, "AT+CGMM")
		info.Revision = m.infoLine(ctx, "AT+CGMR")
		if err := m.simReady(ctx); err != nil {
			return info, err
		}
		if err := m.register(ctx); err != nil {
			return info, err
		}
	} else if r, err := m.Do(ctx, at.Command{Text: "AT+GMR", Prefix: "-"}); err == nil {
		for _, l := range r.Lines {
			if v, ok := strings.CutPrefix(l, "AT version:"); ok {
				info.Revision = strings.TrimSpace(v)
			}
		}
		info.Model = "ESP-AT"
	}
	if err := m.d.Attach(ctx, m); err != nil {
		return info, err
	}
	// Sockets a crashed process, or the session before a reboot or a lost
	// bearer, left in the module would fail the next open (stale.go).
	if _, err := m.sweep(ctx, "left open before this bring-up"); err != nil {
		return info, err
	}
	return info, nil
}

// infoLine returns the first information line of a command, "" on error.
func (m *Modem) infoLine(ctx context.Context, text string) string {
	r, err := m.Do(ctx, at.Command{Text: text, Prefix: "-"})
	if err != nil || len(r.Lines) == 0 {
		return ""
	}
	l := r.Lines[0]
	if i := strings.Index(l, ":"); i >= 0 && strings.HasPrefix(l, "+") {
		l = l[i+1:]
	}
	return strings.Trim(strings.TrimSpace(l), `"`)
}

// sync brings the line in step from an unknown state: a half-typed command
// a crashed process left in the module's buffer, an SMS or data prompt, a
// transparent data mode, answers still on their way. ESC and the line end
// end a half-typed command or a prompt, "+++" with its guard times leaves a
// data mode; whatever the module answers to them is discarded by the
// engine's resync exchange (sync.go), which also tells whether anything
// answers at all.
func (m *Modem) sync(ctx context.Context) error {
	var last error
	for round := range 2 {
		var err error
		if round == 1 {
			err = m.escapeData(ctx)
		}
		if err == nil {
			err = m.eng.WriteRaw(ctx, []byte("\x1b"+m.t.lineEnd()))
		}
		if err == nil {
			err = m.eng.Resync(ctx)
		}
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || errors.Is(err, at.ErrClosed) {
			return fmt.Errorf("at: waiting for the modem to answer: %w", err)
		}
		last = err
		m.log.Debug("at: no answer to the resync exchange yet", "round", round+1, "err", err)
	}
	return &SetupError{Kind: ErrNoModem, Msg: fmt.Sprintf("nothing answers on %s: check the port (the modem's AT interface, e.g. USB interface 2), the baud rate, and that no other program (ModemManager) holds it", m.portName()), Err: last}
}

// escapeData sends "+++" with a guard time on each side, which ends a
// transparent data mode (ESP-AT passthrough, Quectel access mode 2).
func (m *Modem) escapeData(ctx context.Context) error {
	pause := func(d time.Duration) error {
		if err := sleepCtx(ctx, d); err != nil {
			return fmt.Errorf("at: leaving data mode: %w", err)
		}
		return nil
	}
	if err := pause(100 * time.Millisecond); err != nil {
		return err
	}
	if err := m.eng.WriteRaw(ctx, []byte("+++")); err != nil {
		return err
	}
	return pause(1100 * time.Millisecond)
}

func (m *Modem) portName() string {
	if m.cfg.Port != "" {
		return m.cfg.Port
	}
	return "the port"
}

// simReady checks the SIM and enters the PIN when one is configured.
func (m *Modem) simReady(ctx context.Context) error {
	deadline := time.Now().Add(10 * time.Second)
	pinSent := false
	for {
		r, err := m.Do(ctx, at.Command{Text: "AT+CPIN?"})
		var cme *at.CMEError
		switch {
		case err == nil:
			state := ""
			for _, l := range r.Lines {
				if a := at.SplitArgs(l, "+CPIN"); len(a) > 0 {
					state = a[0]
				}
			}
			switch state {
			case "READY":
				return nil
			case "SIM PIN":
				if m.cfg.PIN == "" {
					return &SetupError{Kind: ErrSIMLocked, Msg: "the SIM card asks for its PIN: set \"pin\" in the driver config, or remove the PIN lock from the card"}
				}
				if pinSent {
					return &SetupError{Kind: ErrSIMLocked, Msg: "the SIM card still asks for its PIN after the configured one was sent: check \"pin\""}
				}
				if _, err := m.Do(ctx, at.Command{Text: "AT+CPIN=" + at.Quote(m.cfg.PIN), Secret: true}); err != nil {
					return &SetupError{Kind: ErrSIMLocked, Msg: "the SIM card refused the configured PIN: check \"pin\" (a few more wrong tries lock the card until its PUK is entered)", Err: err}
				}
				pinSent = true
				continue
			case "SIM PUK", "SIM PIN2", "SIM PUK2", "PH-SIM PIN":
				return &SetupError{Kind: ErrSIMLocked, Msg: fmt.Sprintf("the SIM card is locked (%s): unlock it in a phone, then retry", state)}
			}
			return &SetupError{Kind: ErrNoSIM, Msg: fmt.Sprintf("unexpected SIM state %q: check the SIM card", state)}
		case errors.As(err, &cme) && (cme.Code == 10 || cme.Code == 13 || strings.Contains(strings.ToLower(cme.Text), "not inserted")):
			return &SetupError{Kind: ErrNoSIM, Msg: "no SIM card (or a failed one): insert a SIM card (contacts down, fully in) and power-cycle the modem", Err: err}
		case errors.As(err, &cme) && (cme.Code == 11 || cme.Code == 12):
			return &SetupError{Kind: ErrSIMLocked, Msg: "the SIM card wants its PIN or PUK: set \"pin\", or unlock the card in a phone", Err: err}
		case errors.As(err, &cme) && cme.Code == 14 && time.Now().Before(deadline):
			// SIM busy right after boot.
			if err := sleepCtx(ctx, pollInterval); err != nil {
				return err
			}
			continue
		default:
			return fmt.Errorf("at: reading the SIM state: %w", err)
		}
	}
}

// regFamilies are the registration queries; a Cat-M modem answers only
// CEREG, a 2G one only CREG/CGREG.
var regFamilies = []string{"AT+CEREG?", "AT+CGREG?", "AT+CREG?"}

// register waits until the modem is registered on a network (stat 1 home
// or 5 roaming on any family), up to the registration timeout.
func (m *Modem) register(ctx context.Context) error {
	timeout := m.cfg.RegistrationWait(false)
	deadline := time.Now().Add(timeout)
	var lastStat = -1
	rssi := 99
	for {
		denied, searching := false, false
		for _, q := range regFamilies {
			r, err := m.Do(ctx, at.Command{Text: q})
			if err != nil {
				if ctx.Err() != nil || errors.Is(err, at.ErrClosed) {
					return fmt.Errorf("at: registration: %w", err)
				}
				continue // family not supported
			}
			for _, l := range r.Lines {
				a := at.SplitArgs(l, strings.TrimSuffix(strings.TrimPrefix(q, "AT"), "?"))
				if len(a) < 2 {
					continue
				}
				stat, ok := at.ArgInt(a, 1)
				if !ok {
					continue
				}
				lastStat = stat
				switch stat {
				case 1, 5:
					return nil
				case 3:
					denied = true
				case 2:
					searching = true
				}
			}
		}
		if r, err := m.Do(ctx, at.Command{Text: "AT+CSQ"}); err == nil {
			for _, l := range r.Lines {
				if v, ok := at.ArgInt(at.SplitArgs(l, "+CSQ"), 0); ok {
					rssi = v
				}
			}
		}
		if time.Now().After(deadline) {
			switch {
			case denied:
				return &SetupError{Kind: ErrNotRegistered, Denied: true, Msg: fmt.Sprintf("the network denied registration (stat 3): check that the SIM is activated, its plan allows data on this network, and roaming if abroad")}
			case rssi == 99 || rssi == 0:
				return &SetupError{Kind: ErrNoSignal, Msg: fmt.Sprintf("no signal (AT+CSQ rssi %d) after %v: check the antenna and the coverage at this place", rssi, timeout)}
			case searching:
				return &SetupError{Kind: ErrNotRegistered, Msg: fmt.Sprintf("still searching for a network after %v (signal rssi %d): check the antenna, the coverage and the bands of the module; raise \"registration_timeout\" for slow networks", timeout, rssi)}
			default:
				return &SetupError{Kind: ErrNotRegistered, Msg: fmt.Sprintf("not registered and not searching (stat %d) after %v: the radio may be off (AT+CFUN=1) or the operator selection manual (AT+COPS=0)", lastStat, timeout)}
			}
		}
		if err := sleepCtx(ctx, pollInterval); err != nil {
			return err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// detect identifies the modem on port with a throw-away engine (CR LF line
// ends, which every vendor accepts) and returns its dialect name.
func detect(ctx context.Context, port io.ReadWriter, log *slog.Logger, trace func(at.TraceEvent)) (string, error) {
	e := at.New(nopCloser{port}, at.Options{LineEnd: "\r\n", Logger: log, Trace: trace})
	defer e.Close()
	// The module may hold a half-typed command or answers from a process
	// that used the port before: ESC and a line end, then the resync
	// exchange, which also tells whether anything answers.
	err := e.WriteRaw(ctx, []byte("\x1b\r\n"))
	if err == nil {
		err = e.Resync(ctx)
	}
	if ctx.Err() != nil {
		return "", fmt.Errorf("at: detecting the modem: %w", ctx.Err())
	}
	if err != nil {
		return "", &SetupError{Kind: ErrNoModem, Msg: "nothing answers AT: check the port, the baud rate, and that no other program (ModemManager) holds it", Err: err}
	}
	_, _ = e.Do(ctx, at.Command{Text: "ATE0", Timeout: time.Second})
	var text []string
	for _, c := range []string{"ATI", "AT+GMR", "AT+CGMI"} {
		if r, err := e.Do(ctx, at.Command{Text: c, Prefix: "-", Timeout: 2 * time.Second}); err == nil {
			text = append(text, r.Lines...)
		}
	}
	if name := identifyDialect(strings.Join(text, "\n")); name != "" {
		return name, nil
	}
	return "", fmt.Errorf("at: the modem's identification (ATI, AT+GMR, AT+CGMI) names no known vendor: choose the driver for it (one of at.%s)", strings.Join(Dialects(), ", at."))
}

type nopCloser struct{ io.ReadWriter }
