package conformance

import (
	"fmt"

	"github.com/iotd/iotd/conformance/peer"
	"github.com/iotd/iotd/core/driver"
)

// needs returns an applies function that requires transport t and, when
// tls is set, the TLS feature.
func needs(t driver.Transport, tls bool) func(*suite) string {
	return func(s *suite) string {
		if !s.has(t) {
			return fmt.Sprintf("the driver does not declare the %s transport", t)
		}
		if tls && !s.h.Features.TLS {
			return "the driver does not declare the TLS feature"
		}
		return ""
	}
}

// Cases returns the suite's cases in run order. The list is the same for
// every driver; which cases apply depends on the harness.
func Cases() []Case {
	st, dg := needs(driver.Stream, false), needs(driver.Datagram, false)
	sec := needs(driver.Stream, true)
	return []Case{
		{ID: "G01", Name: "UndeclaredTransport", Level: Must, Doc: "Dial of a transport missing from Transports returns ErrNotSupported",
			applies: func(s *suite) string {
				if s.has(driver.Stream) && s.has(driver.Datagram) {
					return "the driver declares every transport"
				}
				return ""
			}, run: caseUndeclared},

		{ID: "S01", Name: "ConnectEcho", Level: Must, Transport: driver.Stream, Doc: "connect and echo 1..64 bytes, 1000, 2048 and 16 KiB", applies: st, run: caseConnectEcho},
		{ID: "S02", Name: "Addresses", Level: Must, Transport: driver.Stream, Doc: "LocalAddr and RemoteAddr are never nil",
			applies: st, run: func(c *C) { caseAddresses(c, echoStream) }},
		{ID: "S03", Name: "LargeTransferConcurrent", Level: Must, Transport: driver.Stream, Doc: "1 MiB written while the echo is read concurrently arrives intact", applies: st, run: caseLargeTransfer},
		{ID: "S04", Name: "PeerFINIsEOF", Level: Must, Transport: driver.Stream, Doc: "an orderly close reads as all the data, then io.EOF", applies: st, run: casePeerFIN},
		{ID: "S05", Name: "PeerResetIsErrReset", Level: Must, Transport: driver.Stream, Doc: "an abortive close (RST) reads as ErrReset, not io.EOF", applies: st, run: casePeerReset},
		{ID: "S06", Name: "Refused", Level: Must, Transport: driver.Stream, Doc: "Dial to a closed port returns ErrRefused", applies: st, run: caseRefused},
		{ID: "S07", Name: "Unresolvable", Level: Must, Transport: driver.Stream, Doc: "Dial to a name that does not resolve returns ErrUnreachable", applies: st, run: caseUnresolvable},
		{ID: "S08", Name: "ReadDeadline", Level: Must, Transport: driver.Stream, Doc: "Read past its deadline times out; the conn works once the deadline is extended",
			applies: st, run: func(c *C) { caseReadDeadline(c, echoStream, pingStream) }},
		{ID: "S09", Name: "WriteDeadline", Level: Must, Transport: driver.Stream, Doc: "Write to a peer that reads nothing times out at its deadline", applies: st, run: caseWriteDeadline},
		{ID: "S10", Name: "PastDeadline", Level: Must, Transport: driver.Stream, Doc: "a deadline in the past fails Read and Write at once",
			applies: st, run: func(c *C) { casePastDeadline(c, echoStream, pingStream) }},
		{ID: "S11", Name: "CloseUnblocksRead", Level: Must, Transport: driver.Stream, Doc: "Close unblocks a pending Read with net.ErrClosed",
			applies: st, run: func(c *C) { caseCloseUnblocksRead(c, echoStream) }},
		{ID: "S12", Name: "CloseUnblocksWrite", Level: Must, Transport: driver.Stream, Doc: "Close unblocks a pending Write with net.ErrClosed", applies: st, run: caseCloseUnblocksWrite},
		{ID: "S13", Name: "CloseTwice", Level: Must, Transport: driver.Stream, Doc: "a second Close is harmless; calls after Close return net.ErrClosed",
			applies: st, run: func(c *C) { caseCloseTwice(c, echoStream) }},
		{ID: "S14", Name: "ParallelConns", Level: Must, Transport: driver.Stream, Doc: "four conns echo at once without cross-talk", applies: st, run: caseParallelConns},
		{ID: "S15", Name: "Nettest", Level: Must, Transport: driver.Stream, Doc: "golang.org/x/net/nettest.TestConn passes (runs under conformancetest.TestDriver only)",
			applies: st, External: true},
		{ID: "S16", Name: "FragmentedPath", Level: Must, Transport: driver.Stream, Doc: "through a relay that cuts the stream into 1..8-byte pieces with pauses, 64 KiB echo byte-exact",
			applies: st, run: caseFragmentedPath},
		{ID: "S17", Name: "NoGoroutineLeak", Level: Must, Transport: driver.Stream, Doc: "16 dial/echo/close cycles leave no goroutines behind",
			applies: st, run: func(c *C) { caseNoLeak(c, echoStream, pingStream) }},

		{ID: "T01", Name: "ExpiredCertificate", Level: Must, Transport: driver.Stream, Doc: "an expired server certificate fails Dial with ErrHandshake",
			applies: sec, run: caseBadCert(func(t *peer.TLSSet) *peer.Stream { return t.Expired }, "an expired certificate")},
		{ID: "T02", Name: "WrongNameCertificate", Level: Must, Transport: driver.Stream, Doc: "a certificate for another name fails Dial with ErrHandshake",
			applies: sec, run: caseBadCert(func(t *peer.TLSSet) *peer.Stream { return t.WrongName }, "a certificate for another name")},
		{ID: "T03", Name: "UntrustedCertificate", Level: Must, Transport: driver.Stream, Doc: "a certificate from an untrusted CA fails Dial with ErrHandshake",
			applies: sec, run: caseBadCert(func(t *peer.TLSSet) *peer.Stream { return t.Untrusted }, "a certificate from an untrusted CA")},

		{ID: "D01", Name: "DatagramEcho", Level: Must, Transport: driver.Datagram, Doc: "each Write sends one datagram and each Read returns one, up to MaxPayload", applies: dg, run: caseDatagramEcho},
		{ID: "D02", Name: "ShortBuffer", Level: Must, Transport: driver.Datagram, Doc: "a short buffer gets the datagram's start and ErrShortBuffer; the rest is discarded", applies: dg, run: caseShortBuffer},
		{ID: "D03", Name: "TooLarge", Level: Must, Transport: driver.Datagram, Doc: "a Write above MaxPayload returns ErrTooLarge and sends nothing", applies: dg, run: caseTooLarge},
		{ID: "D04", Name: "ReadDeadlineNotEOF", Level: Must, Transport: driver.Datagram, Doc: "an idle Read times out (never io.EOF); the conn works once the deadline is extended",
			applies: dg, run: func(c *C) { caseReadDeadline(c, (*C).datagram, pingDatagram) }},
		{ID: "D05", Name: "PastDeadline", Level: Must, Transport: driver.Datagram, Doc: "a deadline in the past fails Read and Write at once",
			applies: dg, run: func(c *C) { casePastDeadline(c, (*C).datagram, pingDatagram) }},
		{ID: "D06", Name: "CloseUnblocksRead", Level: Must, Transport: driver.Datagram, Doc: "Close unblocks a pending Read with net.ErrClosed",
			applies: dg, run: func(c *C) { caseCloseUnblocksRead(c, (*C).datagram) }},
		{ID: "D07", Name: "CloseTwice", Level: Must, Transport: driver.Datagram, Doc: "a second Close is harmless; calls after Close return net.ErrClosed",
			applies: dg, run: func(c *C) { caseCloseTwice(c, (*C).datagram) }},
		{ID: "D08", Name: "Addresses", Level: Must, Transport: driver.Datagram, Doc: "LocalAddr and RemoteAddr are never nil",
			applies: dg, run: func(c *C) { caseAddresses(c, (*C).datagram) }},
		{ID: "D10", Name: "ReorderDuplicate", Level: Must, Transport: driver.Datagram, Doc: "through a link that reorders and duplicates (no loss), every datagram arrives whole",
			applies: dg, run: caseReorderDuplicate},
		{ID: "D11", Name: "NoGoroutineLeak", Level: Must, Transport: driver.Datagram, Doc: "16 dial/echo/close cycles leave no goroutines behind",
			applies: dg, run: func(c *C) { caseNoLeak(c, (*C).datagram, pingDatagram) }},
		{ID: "D09", Name: "ImpairedLink", Level: Should, Transport: driver.Datagram, Doc: "through 10% loss, duplication and reordering each way, datagrams arrive whole and the conn stays usable", applies: dg, run: caseImpairedLink},

		// The cases below disturb the driver (kill its process, reboot its
		// modem), so they run last.
		{ID: "M01", Name: "RebootFailsConn", Level: Must, Doc: "a modem reboot fails a pending Read and later calls with ErrBadConn",
			applies: needsModem, run: caseModemReboot},
		{ID: "M02", Name: "DialAfterReboot", Level: Must, Doc: "after a modem reboot the driver recovers: a new Dial echoes",
			applies: needsModem, run: caseDialAfterReboot},
		{ID: "M03", Name: "GarbageOnLine", Level: Must, Doc: "line noise from the modem does not break an open conn's echo or a new Dial",
			applies: needsModem, run: caseModemGarbage},
		{ID: "M04", Name: "FragmentedOutput", Level: Must, Doc: "modem output arriving in 1..8-byte pieces still echoes byte-exact",
			applies: needsModem, run: caseModemFragment},
		{ID: "P01", Name: "KillFailsConn", Level: Must, Doc: "killing the driver's process fails a pending Read and later calls with ErrBadConn",
			applies: needsLifecycle, run: caseKill},
		{ID: "P02", Name: "DialAfterRestart", Level: Must, Doc: "after the host restarts the driver, a fresh Open and Dial echo",
			applies: needsLifecycle, run: caseDialAfterRestart},
		{ID: "P03", Name: "DialerSurvivesRestart", Level: Should, Doc: "after a restart, the Dialer opened before the kill dials again",
			applies: needsLifecycle, run: caseDialerSurvives},
	}
}

func caseUndeclared(c *C) {
	t, addr := driver.Datagram, "127.0.0.1:9"
	if !c.s.has(driver.Stream) {
		t = driver.Stream
	}
	if c.s.stream != nil {
		addr = c.s.stream.Addr()
	} else if c.s.dgramAddr != "" {
		addr = c.s.dgramAddr
	}
	conn, err := c.s.dialer.Dial(c.ctx, t, addr)
	if err == nil {
		_ = conn.Close()
	}
	c.expectIs(err, driver.ErrNotSupported, "Dial(%s) on a driver without that transport", t)
}
