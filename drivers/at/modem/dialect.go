package modem

import (
	"context"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/at"
)

// Dialect is what one module's command set adds to the modem: the data
// path's bring-up after the common steps, the socket commands and their
// URCs. The modem does everything else — the line in step, echo, SIM,
// registration, reboots, sockets as driver.Conn with deadlines and
// back-pressure, the sockets a crashed process left behind, the driver
// and its config — so a port is these eight methods and a [Traits] value.
//
// Every method that takes a context sends its commands with [Modem.Do]
// and returns the module's failure as an error; none is called from a URC
// handler, and none may call one. The modem serialises nothing beyond its
// engine: Send and Recv of different sockets may interleave with each
// other and with Open, so a dialect keeps no per-command state outside its
// methods (per-modem state is fine: [Register] takes a constructor and
// each Modem gets its own Dialect).
type Dialect interface {
	// Traits returns the module's fixed properties and limits. The modem
	// reads them once, when it is created.
	Traits() Traits
	// URCs returns the handlers of the module's socket and bearer URCs.
	// They run on the engine's reader goroutine: they report what they
	// see with [Modem.Readable], [Modem.RemoteClosed], [Modem.Pushed] and
	// [Modem.BearerLost], and never send a command.
	URCs(m *Modem) []at.URC
	// Attach brings the data path up after the common bring-up: the PDP
	// context or Wi-Fi network, the TCP/IP service, the receive mode. It
	// runs after every (re)boot and after a bearer loss, so it must cope
	// with a module that is already attached. A failure the user can fix
	// is returned as [AttachError].
	Attach(ctx context.Context, m *Modem) error
	// Open connects s to host:port (host may be a name the module
	// resolves). When the module assigns socket ids (Limits.ModuleIDs),
	// Open calls [Modem.Bind] with the id the module gave; otherwise s
	// is bound to a free id already ([Socket.ID]). A failed Open leaves
	// the id free in the module.
	//
	// Two failures make the modem free what stands in the way and open
	// once more, within the same dial: an error wrapping [ErrInUse] (the
	// module still holds the id, or has none free) and one wrapping
	// [ErrBearerDown] (the data context is down although no URC said
	// so).
	Open(ctx context.Context, m *Modem, s *Socket, host string, port int) error
	// Send sends one chunk of at most Limits.MaxSend bytes and returns how
	// many the module took. An error wrapping [ErrSendFull] says the
	// module's buffer is full and nothing was sent: the socket waits and
	// sends again.
	Send(ctx context.Context, m *Modem, s *Socket, p []byte) (int, error)
	// Recv pulls up to max bytes the module holds for s (one whole
	// datagram for a datagram socket). more reports that the module may
	// hold more; the socket then reads again before it waits for the next
	// [Modem.Readable].
	Recv(ctx context.Context, m *Modem, s *Socket, max int) (data []byte, more bool, err error)
	// Close closes (frees) socket id in the module; an id the module does
	// not hold is not an error.
	Close(ctx context.Context, m *Modem, id int) error
	// Held lists the socket ids the module holds — connected, opening, or
	// closed by the peer but not yet freed — so that every bring-up can
	// free the ones a crashed process left behind. A module that cannot
	// say returns an error; the modem then frees ids as dials meet them.
	Held(ctx context.Context, m *Modem) ([]int, error)
}

// Signaler is an optional [Dialect] method: the radio link's quality.
// Without it a cellular modem reads AT+CSQ ([CSQ]); a Wi-Fi module
// reports none.
type Signaler interface {
	Signal(ctx context.Context, m *Modem) (driver.Signal, error)
}

// Traits are a dialect's fixed properties.
type Traits struct {
	// Name is the dialect's short name, lower case ("quectel"); the
	// driver is "at.<Name>".
	Name string
	// Identify holds lower-case words that the module's identification
	// (ATI, AT+GMR, AT+CGMI) contains, for the "at" driver that detects
	// the dialect. The longest word found wins, so a module that also
	// names its vendor's other dialect ("simcom_sim800") is told apart
	// by a longer word.
	Identify []string
	// LineEnd ends every command; "" means "\r" (V.25ter's S3). ESP-AT
	// wants "\r\n".
	LineEnd string
	// Finals are the module's own final results, beyond OK, ERROR, +CME
	// ERROR and the call results ("SEND OK", "SEND FAIL").
	Finals []at.Final
	// Cellular selects the common 3GPP bring-up: AT+CMEE, identification
	// (AT+CGMM, AT+CGMR), the SIM, registration. False for Wi-Fi modules,
	// which identify with AT+GMR and join in Attach.
	Cellular bool
	// Banners are lines the module sends when it boots ("RDY"); one
	// arriving unasked is a reboot: every socket fails with a
	// [*RebootError] and the modem is brought up again. NULBoot says that
	// a run of NUL bytes is a reboot too (a UART's line during reset).
	Banners []string
	NULBoot bool
	Limits  Limits
}

// Limits are what a module's AT socket interface allows.
type Limits struct {
	// Sockets is the number of socket ids, 0..Sockets-1.
	Sockets int
	// ModuleIDs says that the module assigns the id when a socket is
	// opened (u-blox AT+USOCR); otherwise the modem picks a free id
	// before Open.
	ModuleIDs bool
	// MaxSend is the largest payload of one send command, MaxRead of one
	// read. A datagram is at most the smaller of the two.
	MaxSend, MaxRead int
	// Conformance lists the conformance cases a module of the dialect
	// cannot pass, by case id, each with the reason: limits of its AT
	// interface, not bugs of the dialect ([ConformanceLimits]).
	Conformance map[string]string
}

func (t Traits) lineEnd() string {
	if t.LineEnd == "" {
		return "\r"
	}
	return t.LineEnd
}
