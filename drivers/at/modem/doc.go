// Package modem runs an AT modem on top of the command engine
// (github.com/iotd/iotd/drivers/at) and a [Dialect]: the bring-up from an
// unknown state, registration, the data context, reboot recovery, the
// sockets a crashed process left behind, and sockets as driver.Conn. It
// registers the at.* drivers.
//
// # What the modem does
//
// Bring-up, after every (re)boot and every bearer loss: the line in step
// (ESC, "+++", the engine's resync exchange), ATE0, then for a cellular
// module AT+CMEE=1, AT+CGMM/AT+CGMR, the SIM (with the PIN when one is
// configured) and registration with a bounded wait, then the dialect's
// Attach, then the sweep: every socket id the module holds ([Dialect] Held)
// that no socket of ours owns is closed. Failures come as a [*SetupError]
// whose message names the fix ([ErrNoSIM], [ErrSIMLocked],
// [ErrNotRegistered], [ErrNoSignal], [ErrWiFi], [ErrAttach]).
//
// Sockets: pull-mode receive (a URC marks a socket readable, Read pulls
// with the dialect's Recv), writes split to Limits.MaxSend and retried
// while the module's buffer is full, read and write deadlines, io.EOF after
// the peer's close once the data is drained. A boot banner fails every
// socket with a [*RebootError] (driver.ErrBadConn) and brings the modem up
// again; a failed port fails them with driver.ErrBadConn. A dial whose id
// the module still holds, that a reboot interrupted, or that finds the
// data context down, frees the id or brings the modem up again and opens
// once more (stale.go).
//
// The drivers "at.<dialect>" and "at" (the dialect detected from ATI,
// AT+GMR and AT+CGMI) take a JSON [Config]:
//
//	{"port": "/dev/serial/by-id/usb-Quectel_EG25-if02-port0", "baud": 115200,
//	 "apn": "internet", "user": "", "password": "", "pin": "",
//	 "ssid": "", "wifi_password": "",
//	 "registration_timeout": "120s", "command_timeout": "5s", "trace": false}
//
// A driver also reports its open modems (model, firmware, IMEI, ICCID,
// operator, access technology, registration, signal: status.go), runs a
// command typed by a person between its own (manual.go) and traces the
// line (trace.go): driver.ModemInspector, driver.ATCommander and
// driver.ATTracer, which `iotd status`, `iotd at send` and `iotd at trace`
// reach through the daemon.
//
// TLS is the host's: a tls link over: at.<dialect> verifies the server with
// Go's crypto/tls; the module's own TLS stack is not used.
//
// # Porting a new module
//
// A module whose AT interface has sockets (open, send, receive, close)
// needs a [Dialect] — eight methods and a [Traits] value — and nothing
// else; the built-in dialects (drivers/at/esp, quectel, simcom, ublox) are
// written exactly so, with the exported API of this package and of
// package at only. Steps, with the module's AT manual at hand:
//
//  1. Traits. Name ("sim800", the driver becomes "at.sim800"); Identify,
//     words of its ATI/AT+GMR/AT+CGMI answer; LineEnd if it wants CR LF;
//     Finals for result lines that end a command other than OK/ERROR
//     ("SEND OK", "SHUT OK", "DATA ACCEPT:" as a prefix); Banners it
//     prints at boot ("RDY", "+UUSTARTUP"); Cellular for the 3GPP
//     bring-up; Limits: the socket ids, whether the module assigns them,
//     the largest send and read, and the conformance cases its interface
//     cannot pass, with the reason.
//  2. URCs. A handler per socket URC ([at.URC]): "data waiting" calls
//     [Modem.Readable], "closed by the peer" [Modem.RemoteClosed], "data
//     context lost" [Modem.BearerLost] with an error wrapping
//     driver.ErrBadConn. A URC that carries the data returns its length
//     from Line and hands it over in Data with [Modem.Pushed]. Parse with
//     [at.SplitArgs], [at.ArgInt] and [at.LenHeader]; never trust a
//     length.
//  3. Attach: the APN ([Modem.Config], quoted with [at.Quote], its
//     authentication type from [Config.AuthType]), activating the context,
//     the receive mode. Coping with an already attached module matters:
//     it runs after every reboot. Failures the user can fix return
//     [AttachError]. A command that carries a PIN or a password sets
//     [at.Command] Secret, so that no trace shows it.
//  4. Open, Send, Recv, Close, Held: one or two commands each, through
//     [Modem.Do]. Commands whose result comes later as a URC use
//     [at.Command] Await; a send with a prompt uses Payload; a read whose
//     data follows a header uses Raw. Open wraps [ErrInUse] when the module
//     still holds the id and [ErrBearerDown] when the context is gone; Send
//     wraps [ErrSendFull] when the module's buffer is full.
//  5. Optionally: [Signaler] for a signal other than AT+CSQ, and
//     [StatusReporter] for what `iotd status` should show beyond the
//     3GPP queries (a Wi-Fi module's network).
//  6. Register from init — modem.MustRegister(New) — so that one blank
//     import adds the module to a program: a custom iotd (the stock
//     cmd/iotd main plus that import) or a plugin binary whose main calls
//     plugins/sdk.Serve with the driver ([NewDriver]).
//  7. Simulate and certify: a personality in drivers/at/atsim (the
//     module's command set, faults, line rate) lets the modem tests and
//     `iotd conformance --driver at.<name>` (or --plugin) run with no
//     hardware; [ConformanceLimits] feeds the suite the known failures.
//
// modules/sim800 in the repository is such a port, in its own Go module.
package modem
