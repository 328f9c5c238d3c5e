package atsim_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/drivers/at"
	"github.com/iotd/iotd/drivers/at/atsim"
)

// Faults that leave the module as a previous host, or the module itself,
// left it: the host must not take their answers for its own.

func TestFaultHalfTyped(t *testing.T) {
	// The crashed host typed "AT+CS"; the new host's first "AT" completes
	// the line "AT+CSAT", which the module does not know.
	m, e := start(t, atsim.Config{Dialect: atsim.DialectQuectel, Faults: []atsim.Fault{{Kind: atsim.HalfTyped}}}, at.Options{})
	fails(t, e, "AT")
	run(t, e, "AT")
	assert.Contains(t, m.Commands(), "AT+CSAT")
}

func TestFaultNonATError(t *testing.T) {
	notAT := func(e *at.Engine, timeout time.Duration) error {
		_, err := e.Do(context.Background(), at.Command{Text: "\x1b", Timeout: timeout})
		return err
	}
	t.Run("quectel ignores a non-AT line unless told", func(t *testing.T) {
		m, e := start(t, atsim.Config{Dialect: atsim.DialectQuectel}, at.Options{})
		run(t, e, "AT")
		// V.250: the line is ignored, nothing answers.
		assert.ErrorIs(t, notAT(e, 300*time.Millisecond), at.ErrTimeout)
		require.NoError(t, m.Inject(atsim.Fault{Kind: atsim.NonATError}))
		assert.ErrorIs(t, notAT(e, guard), at.ErrError)
		m.Clear(atsim.NonATError)
		assert.ErrorIs(t, notAT(e, 300*time.Millisecond), at.ErrTimeout)
		run(t, e, "AT") // the engine resyncs after the timeout first
	})
	t.Run("esp always answers ERROR", func(t *testing.T) {
		_, e := start(t, atsim.Config{Dialect: atsim.DialectESP}, espOpts)
		run(t, e, "AT")
		assert.ErrorIs(t, notAT(e, guard), at.ErrError)
	})
}

func TestFaultRebootMidCommand(t *testing.T) {
	m, e := quectelUp(t, atsim.Config{})
	rdy := watch(t, e, "RDY")
	require.NoError(t, m.Inject(atsim.Fault{Kind: atsim.RebootMidCommand, Command: "AT+CSQ"}))
	run(t, e, "AT+CGMM") // not the one
	_, err := e.Do(context.Background(), at.Command{Text: "AT+CSQ", Timeout: 500 * time.Millisecond})
	assert.ErrorIs(t, err, at.ErrTimeout, "the command dies with the module: no answer")
	rdy.waitFor(t, "RDY")
	assert.Equal(t, 1, m.Stats().Reboots)
	r := run(t, e, "AT+CSQ") // once only; the engine resyncs first
	assert.Equal(t, []string{"+CSQ: 20,99"}, r.Lines)
	assert.Equal(t, 1, m.Stats().Reboots)
}

// staleCase opens socket 0 on a dialect whose module still holds it and
// says how the module refuses.
var staleCases = []struct {
	dialect string
	up      func(t *testing.T, cfg atsim.Config) (*atsim.Modem, *at.Engine)
	// list lists the held ids the dialect's way.
	list func(t *testing.T, e *at.Engine) []string
	// reopen tries to open id 0 again and returns what the module said.
	reopen func(t *testing.T, e *at.Engine) string
	close  string
}{
	{
		dialect: atsim.DialectQuectel, up: quectelUp,
		list: func(t *testing.T, e *at.Engine) []string { return run(t, e, "AT+QISTATE?").Lines },
		reopen: func(t *testing.T, e *at.Engine) string {
			return qiopen(t, e, 0, "127.0.0.1", 1, 0)
		},
		close: "AT+QICLOSE=0",
	},
	{
		dialect: atsim.DialectSIMCom, up: func(t *testing.T, cfg atsim.Config) (*atsim.Modem, *at.Engine) {
			cfg.Dialect = atsim.DialectSIMCom
			m, e := start(t, cfg, at.Options{}) // the network is open already
			run(t, e, "ATE0")
			return m, e
		},
		list: func(t *testing.T, e *at.Engine) []string {
			var held []string
			for _, l := range run(t, e, "AT+CIPOPEN?").Lines {
				if strings.Contains(l, `"TCP"`) {
					held = append(held, l)
				}
			}
			return held
		},
		reopen: func(t *testing.T, e *at.Engine) string { return cipopen(t, e, 0, 1) },
		close:  "AT+CIPCLOSE=0",
	},
	{
		dialect: atsim.DialectESP, up: func(t *testing.T, cfg atsim.Config) (*atsim.Modem, *at.Engine) {
			cfg.Dialect = atsim.DialectESP
			m, e := start(t, cfg, espOpts) // joined, multi-link mode already
			run(t, e, "ATE0")
			return m, e
		},
		list: func(t *testing.T, e *at.Engine) []string { return run(t, e, "AT+CIPSTATE?").Lines },
		reopen: func(t *testing.T, e *at.Engine) string {
			var line string
			_, err := e.Do(context.Background(), at.Command{Text: `AT+CIPSTART=0,"TCP","127.0.0.1",1`, Timeout: guard,
				Raw: func(l string) int { line = l; return 0 }})
			require.ErrorIs(t, err, at.ErrError)
			return line
		},
		close: "AT+CIPCLOSE=0",
	},
}

func TestFaultStaleSockets(t *testing.T) {
	for _, tc := range staleCases {
		t.Run(tc.dialect, func(t *testing.T) {
			m, e := tc.up(t, atsim.Config{Faults: []atsim.Fault{{Kind: atsim.StaleSockets, Sockets: 2}}})
			assert.Equal(t, []int{0, 1}, m.OpenSockets())
			assert.Len(t, tc.list(t, e), 2)
			switch tc.dialect {
			case atsim.DialectQuectel:
				assert.Equal(t, "+QIOPEN: 0,563", tc.reopen(t, e))
			case atsim.DialectSIMCom:
				assert.Equal(t, "+CIPOPEN: 0,4", tc.reopen(t, e))
			case atsim.DialectESP:
				assert.Equal(t, "ALREADY CONNECTED", tc.reopen(t, e))
			}
			run(t, e, tc.close)
			assert.Equal(t, []int{1}, m.OpenSockets())
			assert.Len(t, tc.list(t, e), 1)
		})
	}
	t.Run(atsim.DialectUBlox, func(t *testing.T) {
		m, e := ubloxUp(t, atsim.Config{Faults: []atsim.Fault{{Kind: atsim.StaleSockets, Sockets: 12}}})
		assert.Equal(t, []int{0, 1, 2, 3, 4, 5, 6}, m.OpenSockets(), "as many as the module has")
		r := run(t, e, "AT+USOCTL=3,0")
		assert.Equal(t, []string{"+USOCTL: 3,0,6"}, r.Lines)
		fails(t, e, "AT+USOCR=6") // no socket free
		run(t, e, "AT+USOCL=3")
		assert.Equal(t, 3, usocr(t, e, 6))
	})
}

// After "pdpdeact" a Quectel keeps the ids of the dead context until the
// host closes them; so does atsim.
func TestQuectelKeepsSocketsAfterPDPDeact(t *testing.T) {
	p := newPeer(t)
	m, e := quectelUp(t, atsim.Config{})
	deact := watch(t, e, `+QIURC: "pdpdeact"`)
	require.Equal(t, "+QIOPEN: 0,0", qiopen(t, e, 0, "127.0.0.1", p.port(), 0))
	require.NoError(t, m.Inject(atsim.Fault{Kind: atsim.BearerLoss}))
	deact.next(t)
	assert.Equal(t, []int{0}, m.OpenSockets())
	run(t, e, "AT+QIACT=1")
	assert.Equal(t, "+QIOPEN: 0,563", qiopen(t, e, 0, "127.0.0.1", p.port(), 0))
	r := run(t, e, "AT+QISTATE?")
	require.Len(t, r.Lines, 1)
	assert.True(t, strings.HasPrefix(r.Lines[0], `+QISTATE: 0,"TCP"`), r.Lines[0])
	assert.Equal(t, "4", strings.Split(r.Lines[0], ",")[5], "state 4: closing")
	run(t, e, "AT+QICLOSE=0")
	assert.Equal(t, "+QIOPEN: 0,0", qiopen(t, e, 0, "127.0.0.1", p.port(), 0))
}

func TestParseNewFaults(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want atsim.Fault
	}{
		{"halftyped", atsim.Fault{Kind: atsim.HalfTyped}},
		{"halftyped=AT+QIOPEN=1", atsim.Fault{Kind: atsim.HalfTyped, Text: "AT+QIOPEN=1"}},
		{"nonaterror", atsim.Fault{Kind: atsim.NonATError}},
		{"rebootmid", atsim.Fault{Kind: atsim.RebootMidCommand}},
		{"rebootmid=AT+QIACT", atsim.Fault{Kind: atsim.RebootMidCommand, Command: "AT+QIACT"}},
		{"stalesockets", atsim.Fault{Kind: atsim.StaleSockets}},
		{"StaleSockets=3", atsim.Fault{Kind: atsim.StaleSockets, Sockets: 3}},
	} {
		f, err := atsim.ParseFault(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, f, tc.in)
	}
	for _, bad := range []string{"stalesockets=0", "stalesockets=13", "stalesockets=x", "nonaterror=1"} {
		_, err := atsim.ParseFault(bad)
		assert.Error(t, err, bad)
	}
	assert.Equal(t, "rebootmid", fmt.Sprint(atsim.RebootMidCommand))
}

// FuzzParseFault: the CLI's fault syntax never panics, and what it accepts
// a config accepts.
func FuzzParseFault(f *testing.F) {
	for _, s := range []string{"stall=2s", "urc=+X: 1", "halftyped=AT+QI", "rebootmid=AT+CIPOPEN=", "stalesockets=12", "nonaterror", "stalesockets=-1", "halftyped=a\rb", "urc=x\ny"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := atsim.ParseFault(s)
		if err != nil {
			return
		}
		if err := (atsim.Config{Dialect: atsim.DialectQuectel, Faults: []atsim.Fault{flt}}).Validate(); err != nil {
			t.Fatalf("ParseFault(%q) = %+v, which the config refuses: %v", s, flt, err)
		}
	})
}
