package at

import (
	"context"
	"fmt"

	"github.com/iotd/iotd/core/driver"
)

// dialect is what one vendor's command set adds to the engine: bring-up
// after the common steps, the socket commands, their URCs and limits. Every
// method that takes a context sends commands through [Modem.do]; none may
// be called from a URC handler.
type dialect interface {
	// name is the dialect's short name ("quectel"), also the driver name
	// after "at.".
	name() string
	// lineEnd ends every command ("\r" or "\r\n").
	lineEnd() string
	// finals are the vendor final results the engine must know.
	finals() []Final
	// cellular selects the common 3GPP bring-up (SIM, signal,
	// registration); false for Wi-Fi modules.
	cellular() bool
	// banners are the lines the module sends when it (re)boots;
	// nulBoot says that a run of NUL bytes means a reboot too.
	banners() []string
	nulBoot() bool
	// urcs are the dialect's socket URC registrations.
	urcs(m *Modem) []URC
	// attach brings the data path up after the common bring-up: the PDP
	// context or Wi-Fi network, the TCP/IP service and the receive mode.
	attach(ctx context.Context, m *Modem) error
	// sockets is the number of socket ids (0..sockets-1); when hostIDs is
	// false the module assigns the id at open and the dialect calls
	// [Modem.bind] itself.
	sockets() int
	hostIDs() bool
	// maxSend is the largest payload of one send command; maxRead the
	// largest read.
	maxSend() int
	maxRead() int
	// open connects s to host:port; on success s is bound to its id. When
	// the module still holds the id (or has none free) it returns an
	// *inUseError, and the dial frees the id and opens once more.
	open(ctx context.Context, m *Modem, s *sockConn, host string, port int) error
	// send sends one chunk of at most maxSend bytes and returns how many
	// the module took. It returns errSendFull when the module's buffer is
	// full (nothing sent).
	send(ctx context.Context, m *Modem, s *sockConn, p []byte) (int, error)
	// recv pulls up to max buffered bytes (one datagram for datagram
	// sockets). more reports that the module may hold more.
	recv(ctx context.Context, m *Modem, s *sockConn, max int) (data []byte, more bool, err error)
	// closeID closes (frees) socket id in the module; an id the module
	// does not hold is not an error.
	closeID(ctx context.Context, m *Modem, id int) error
	// held lists the socket ids the module holds: connected, opening, or
	// closed by the peer but not yet freed (stale.go).
	held(ctx context.Context, m *Modem) ([]int, error)
	// signal reports the radio link quality.
	signal(ctx context.Context, m *Modem) (driver.Signal, error)
}

// Dialect names, as in the driver names "at.<dialect>".
const (
	ESP     = "esp"
	Quectel = "quectel"
	SIMCom  = "simcom"
	UBlox   = "ublox"
	// Auto detects the dialect from the modem's identification.
	Auto = "auto"
)

// Dialects lists the dialects, without Auto.
func Dialects() []string { return []string{ESP, Quectel, SIMCom, UBlox} }

func newDialect(name string) (dialect, error) {
	switch name {
	case ESP:
		return &esp{}, nil
	case Quectel:
		return &quectel{}, nil
	case SIMCom:
		return &simcom{}, nil
	case UBlox:
		return &ublox{}, nil
	}
	return nil, fmt.Errorf("at: unknown dialect %q: use one of %v or %q", name, Dialects(), Auto)
}
