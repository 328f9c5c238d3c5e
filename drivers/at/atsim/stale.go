package atsim

import (
	"net"
	"strconv"
)

// The peer of the sockets StaleSockets leaves: an address of TEST-NET-1
// (RFC 5737), which nothing on the host can be.
const (
	staleHost = "192.0.2.1"
	stalePort = 8883
)

// staleSocketsLocked holds socket ids 0..n-1 as a session the host lost
// (a crash) would leave them: the data path up and the sockets connected,
// their peer silent. The module knows nothing of the host's crash, so it
// keeps them until the host closes them.
func (m *Modem) staleSocketsLocked(n int) {
	if m.regStat().registered() {
		m.ctxLocked(1).active = true
	}
	for id := range min(n, m.socketIDs()) {
		if _, used := m.socks[id]; used {
			continue
		}
		m.socks[id] = &sock{id: id, proto: "TCP", host: staleHost, port: stalePort, ctx: 1, open: true,
			remote: net.JoinHostPort(staleHost, strconv.Itoa(stalePort))}
	}
	if d, ok := m.d.(sessionKeeper); ok {
		d.previousSession()
	}
	m.log.Debug("atsim: sockets held from a previous session", "count", n)
}

// sessionKeeper is a dialect with session state of its own beyond the PDP
// context and the sockets (a network service opened, a receive mode set);
// previousSession sets it as the host that held the sockets had. It runs
// with Modem.mu held.
type sessionKeeper interface {
	previousSession()
}

// socketIDs is how many socket ids the dialect has.
func (m *Modem) socketIDs() int {
	switch m.cfg.Dialect {
	case DialectQuectel:
		return quectelMaxSockets
	case DialectSIMCom:
		return simcomMaxLinks
	case DialectUBlox:
		return ubloxMaxSockets
	case DialectSIM800:
		return sim800MaxLinks
	}
	return espMaxLinks
}
