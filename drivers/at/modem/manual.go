package modem

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/at"
)

// Commands typed by a person (`iotd at send`) run on the modem's engine
// between its own commands. Two kinds are refused, because they would
// disturb the modem's sockets rather than show something: a command that
// waits for a data prompt (the engine would have no payload to give, and
// the module would take the next commands as data) and one that reads a
// socket's data (the socket would never see it).

// promptCommands wait for a data prompt when set or executed.
var promptCommands = []string{
	"+CIPSEND", "+CIPSENDEX", "+CIPSENDBUF", "+CIPSENDL", "+QISEND", "+QSSLSEND", "+USOWR", "+USOST",
	"+CASEND", "+CMGS", "+CMGW", "+QFUPL", "+QFWRITE", "+QHTTPURL", "+QHTTPPOST", "+QHTTPPUT",
	"+HTTPDATA", "+UDWNFILE", "+QMTPUB", "+QMTPUBEX", "+CCERTDOWN", "+CFTRANRX", "+FSWRITE", "+TCMQTTPUBL",
}

// readCommands take data that belongs to a socket.
var readCommands = []string{"+QIRD", "+QSSLRECV", "+CIPRXGET", "+CIPRECVDATA", "+USORD", "+USORF", "+CARECV"}

// secretCommands carry a PIN or a password when set: a trace shows their
// name only, whoever sends them.
var secretCommands = []string{
	"+CPIN", "+CPIN2", "+CPWD", "+CLCK", "+QICSGP", "+CGAUTH", "+CSTT", "+UPSD", "+UAUTHREQ",
	"+CWJAP", "+CWJAP_CUR", "+CWJAP_DEF", "+TCDEVINFOSET", "+TCPRDINFOSET",
}

// splitManual returns the command's name after "AT" ("+CSQ") and whether
// it only reads or tests (ends with "?").
func splitManual(text string) (name string, query bool) {
	name = strings.ToUpper(strings.TrimSpace(text))[2:]
	if i := strings.IndexAny(name, "=?"); i >= 0 {
		name = name[:i]
	}
	return name, strings.HasSuffix(text, "?")
}

// checkManual refuses what a person may not send.
func checkManual(text string) error {
	switch {
	case len(text) < 2 || !strings.EqualFold(text[:2], "AT"):
		return fmt.Errorf("%q is no AT command: it must start with AT (e.g. AT+CSQ)", text)
	case strings.ContainsAny(text, "\r\n\x1a\x1b"):
		return errors.New("the command holds a line end, Ctrl-Z or ESC: send one command line")
	}
	name, query := splitManual(text)
	if query {
		return nil
	}
	if slices.Contains(promptCommands, name) {
		return fmt.Errorf("AT%s waits for a data prompt and a payload, which `iotd at send` cannot give (the module would take the next commands as data); send data through a socket instead", name)
	}
	if slices.Contains(readCommands, name) {
		return fmt.Errorf("AT%s reads a socket's data, which belongs to the socket (iotd's own read would miss it): watch it with `iotd at trace` instead", name)
	}
	return nil
}

// Command runs one command typed by a person (see driver.ATCommander).
func (m *Modem) Command(ctx context.Context, text string, timeout time.Duration) (driver.ATReply, error) {
	rep := driver.ATReply{Port: m.cfg.Port, Lines: []string{}}
	if err := checkManual(text); err != nil {
		return rep, fmt.Errorf("at: %w", err)
	}
	name, query := splitManual(text)
	r, err := m.Do(ctx, at.Command{Text: text, Timeout: timeout, Secret: !query && slices.Contains(secretCommands, name)})
	if err != nil {
		rep.Final = finalOf(err)
		return rep, err
	}
	rep.Lines = append(rep.Lines, r.Lines...)
	rep.Final = r.Final
	if r.Result != "" {
		rep.Lines = append(rep.Lines, r.Result)
	}
	return rep, nil
}

// finalOf is the final result line a failed command got, "" for none (a
// timeout, a closed port).
func finalOf(err error) string {
	var cme *at.CMEError
	var cms *at.CMSError
	var re *at.ResultError
	switch {
	case errors.As(err, &cme):
		return "+CME ERROR: " + cme.Text
	case errors.As(err, &cms):
		return "+CMS ERROR: " + cms.Text
	case errors.As(err, &re):
		return re.Line
	case errors.Is(err, at.ErrError):
		return "ERROR"
	case errors.Is(err, at.ErrNoCarrier):
		return "NO CARRIER"
	}
	return ""
}

// ATCommand runs one command typed by a person on the modem at port (see
// driver.ATCommander).
func (d *Driver) ATCommand(ctx context.Context, port, command string, timeout time.Duration) (driver.ATReply, error) {
	m, err := d.modemAt(port)
	if err != nil {
		return driver.ATReply{Port: port, Lines: []string{}}, err
	}
	return m.Command(ctx, command, timeout)
}

// modemAt returns the open modem at port, or the only one for "".
func (d *Driver) modemAt(port string) (*Modem, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	open := map[string]*Modem{}
	for p, sh := range d.modems {
		if sh.m.Err() == nil {
			open[p] = sh.m
		}
	}
	ports := slices.Sorted(maps.Keys(open))
	switch {
	case port != "" && open[port] != nil:
		return open[port], nil
	case port != "" && len(ports) > 0:
		return nil, fmt.Errorf("%s: no modem open on %s (open: %s)", d.Name(), port, strings.Join(ports, ", "))
	case len(ports) == 0:
		return nil, fmt.Errorf("%s: no modem open: the driver opens its modem at the first connection through it", d.Name())
	case len(ports) > 1:
		return nil, fmt.Errorf("%s: %d modems open (%s): name one with --port", d.Name(), len(ports), strings.Join(ports, ", "))
	}
	return open[ports[0]], nil
}

// Modems reports the driver's open modems (see driver.ModemInspector).
func (d *Driver) Modems(ctx context.Context, refresh bool) []driver.ModemStatus {
	d.mu.Lock()
	ports := slices.Sorted(maps.Keys(d.modems))
	ms := make([]*Modem, 0, len(ports))
	for _, p := range ports {
		ms = append(ms, d.modems[p].m)
	}
	d.mu.Unlock()
	if refresh {
		for _, m := range ms {
			m.startRefresh()
		}
	}
	out := make([]driver.ModemStatus, 0, len(ms))
	for _, m := range ms {
		st := m.Status(ctx, refresh)
		st.Driver = d.Name()
		out = append(out, st)
	}
	return out
}

var (
	_ driver.ATCommander    = (*Driver)(nil)
	_ driver.ModemInspector = (*Driver)(nil)
)
