package modem

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/at"
)

// Sockets the module still holds.
//
// A module outlives the process that drives it and survives the loss of
// its bearer: after iotd crashed (or a plugin was killed) its sockets are
// still open in the module; after "+QIURC: \"pdpdeact\"" a Quectel keeps
// every id of the context until AT+QICLOSE; a SIMCom link the peer closed
// stays taken until its data is read. Opening such an id fails ("socket
// in use": Quectel 563, SIMCom +CIPOPEN: <id>,4, ESP-AT ALREADY CONNECTED)
// and a module that assigns ids itself (u-blox) runs out of them. So:
//
//   - every bring-up (the first, after a reboot, after a bearer loss) ends
//     with a sweep: the dialect lists the ids the module holds and every
//     one no socket of ours owns is closed;
//   - a dial whose open still finds its id in use closes that id (or, for
//     u-blox, sweeps) and opens once more, within the same Dial;
//   - a dial that a reboot interrupted, or that finds the data context
//     down, brings the modem up again and opens once more.
//
// No dial is lost to what a previous session left behind.

var (
	// ErrInUse is wrapped by a dialect's Open failing because the module
	// still holds the socket id, or has none free: the dial frees the id
	// (or, when the module assigns ids, every id no socket of ours owns)
	// and opens once more.
	ErrInUse = errors.New("at: the module still holds the socket")
	// ErrBearerDown is wrapped by a dialect's Open failing because the
	// data context (or Wi-Fi) is down although the modem was up: the
	// bearer went away without a URC that said so, or before the dial
	// noticed. The dial brings the data path up again and opens once more.
	ErrBearerDown = errors.New("at: the data context is down")
)

// sweep closes every socket the module holds that no socket of ours owns,
// and returns how many it closed. Only a dead port or an ended ctx is an
// error: a module that cannot list its sockets is left as it is (a dial
// that meets a socket in use frees it then).
func (m *Modem) sweep(ctx context.Context, why string) (int, error) {
	ids, err := m.d.Held(ctx, m)
	if err != nil {
		if ctx.Err() != nil || m.alive() != nil {
			return 0, fmt.Errorf("at: listing the modem's sockets: %w", err)
		}
		m.log.Debug("at: the modem did not list its sockets", "err", err)
		return 0, nil
	}
	closed := 0
	for _, id := range ids {
		if m.sock(id) != nil {
			continue
		}
		m.log.Info("at: closing a socket the modem still holds", "socket", id, "why", why)
		if err := m.d.Close(ctx, m, id); err != nil {
			if ctx.Err() != nil || m.alive() != nil {
				return closed, fmt.Errorf("at: closing socket %d the modem still holds: %w", id, err)
			}
			m.log.Warn("at: a socket the modem still holds would not close", "socket", id, "err", err)
			continue
		}
		closed++
	}
	return closed, nil
}

// retryDial reports whether a dial whose open failed with err should open
// once more, after freeing what stood in the way.
func (m *Modem) retryDial(ctx context.Context, s *Socket, err error) bool {
	var re *RebootError
	switch {
	case errors.Is(err, ErrBearerDown):
		m.log.Info("at: the data context is down; bringing it up again", "err", err)
		m.BearerLost(fmt.Errorf("%w: the data context went down: %w", driver.ErrBadConn, err))
		return ctx.Err() == nil && m.alive() == nil
	case errors.Is(err, ErrInUse) && !m.t.Limits.ModuleIDs:
		id := s.ID()
		if m.sock(id) != nil {
			return false // ours: the modem is right, the id is taken
		}
		m.log.Info("at: the modem still holds the socket id; closing it and opening again", "socket", id)
		return m.d.Close(ctx, m, id) == nil
	case errors.Is(err, ErrInUse):
		n, serr := m.sweep(ctx, "no free socket left")
		return serr == nil && n > 0
	case errors.As(err, &re):
		// The module rebooted during the dial: the next try brings it
		// up again first.
		return ctx.Err() == nil && m.alive() == nil
	}
	return false
}

// HeldIDs collects the socket ids (argument 0) of the lines starting with
// prefix that have at least minArgs arguments, sorted and without
// duplicates: what a [Dialect]'s Held reads from a listing such as
// AT+QISTATE?.
func HeldIDs(lines []string, prefix string, minArgs int) []int {
	var ids []int
	for _, l := range lines {
		a := at.SplitArgs(l, prefix)
		if len(a) < minArgs {
			continue
		}
		if id, ok := at.ArgInt(a, 0); ok && id >= 0 && id < 1<<16 && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}
