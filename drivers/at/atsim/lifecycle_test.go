package atsim_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/drivers/at"
	"github.com/iotd/iotd/drivers/at/atsim"
)

// dialectCase brings a dialect up and opens one TCP socket to a peer.
type dialectCase struct {
	dialect string
	banner  string // a line of the boot banner ("" for none)
	up      func(t *testing.T) (*atsim.Modem, *at.Engine)
	open    func(t *testing.T, e *at.Engine, port int)
	// bearer lists the URCs a lost bearer gives, in order.
	bearer []string
}

var dialectCases = []dialectCase{
	{
		dialect: atsim.DialectQuectel, banner: "RDY",
		up: func(t *testing.T) (*atsim.Modem, *at.Engine) { return quectelUp(t, atsim.Config{}) },
		open: func(t *testing.T, e *at.Engine, port int) {
			require.Equal(t, "+QIOPEN: 0,0", qiopen(t, e, 0, "127.0.0.1", port, 0))
		},
		bearer: []string{`+QIURC: "pdpdeact",1`},
	},
	{
		dialect: atsim.DialectESP, banner: "ready",
		up: func(t *testing.T) (*atsim.Modem, *at.Engine) { return espUp(t, atsim.Config{}) },
		open: func(t *testing.T, e *at.Engine, port int) {
			require.Equal(t, []string{"0,CONNECT"}, cipstart(t, e, 0, "TCP", port).Lines)
		},
		bearer: []string{"0,CLOSED", "WIFI DISCONNECT"},
	},
	{
		dialect: atsim.DialectSIMCom, banner: "PB DONE",
		up: func(t *testing.T) (*atsim.Modem, *at.Engine) { return simcomUp(t, atsim.Config{}) },
		open: func(t *testing.T, e *at.Engine, port int) {
			require.Equal(t, "+CIPOPEN: 0,0", cipopen(t, e, 0, port))
		},
		bearer: []string{"+IPCLOSE: 0,2", "+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY"},
	},
	{
		dialect: atsim.DialectUBlox,
		up:      func(t *testing.T) (*atsim.Modem, *at.Engine) { return ubloxUp(t, atsim.Config{}) },
		open: func(t *testing.T, e *at.Engine, port int) {
			id := usocr(t, e, 6)
			run(t, e, fmt.Sprintf(`AT+USOCO=%d,"127.0.0.1",%d`, id, port))
		},
		bearer: []string{"+UUSOCL: 0"},
	},
}

func TestRebootEveryDialect(t *testing.T) {
	for _, dc := range dialectCases {
		t.Run(dc.dialect, func(t *testing.T) {
			p := newPeer(t)
			m, e := dc.up(t)
			var banner *urcs
			if dc.banner != "" {
				banner = watch(t, e, dc.banner)
			}
			dc.open(t, e, p.port())
			p.accepted(t)
			require.Len(t, m.OpenSockets(), 1)
			require.NoError(t, m.Inject(atsim.Fault{Kind: atsim.Reboot}))
			p.sawEOF(t)
			if banner != nil {
				assert.Equal(t, dc.banner, banner.next(t))
			}
			assert.Empty(t, m.OpenSockets())
			// echo is back on: the engine skips it, the module answers
			run(t, e, "AT")
			assert.Equal(t, 1, m.Stats().Reboots)
		})
	}
}

func TestBearerLossEveryDialect(t *testing.T) {
	for _, dc := range dialectCases {
		t.Run(dc.dialect, func(t *testing.T) {
			p := newPeer(t)
			m, e := dc.up(t)
			var ws []*urcs
			for _, u := range dc.bearer {
				ws = append(ws, watch(t, e, u))
			}
			dc.open(t, e, p.port())
			p.accepted(t)
			require.NoError(t, m.Inject(atsim.Fault{Kind: atsim.BearerLoss}))
			p.sawEOF(t)
			for i, u := range dc.bearer {
				assert.Equal(t, u, ws[i].next(t))
			}
		})
	}
}

// TestCloseLeavesNoGoroutines starts and closes modems with open sockets.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	for _, dc := range dialectCases {
		p := newPeer(t)
		m, e := dc.up(t)
		dc.open(t, e, p.port())
		p.accepted(t)
		e.Close()
		require.NoError(t, m.Close())
		require.NoError(t, m.Close(), "Close is idempotent")
		p.sawEOF(t)
	}
	// The peers' accept loops end at cleanup; the modems' goroutines must
	// be gone. Close waits for them, but a goroutine that has signalled
	// the wait group may still be on its way out for a moment.
	var stacks string
	gone := func() bool {
		buf := make([]byte, 1<<20)
		stacks = string(buf[:runtime.Stack(buf, true)])
		return !strings.Contains(stacks, "atsim.(*Modem)")
	}
	if !assert.Eventually(t, gone, 2*time.Second, 10*time.Millisecond) {
		t.Log(stacks)
	}
}
