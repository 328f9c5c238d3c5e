package hubsim

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	piondtls "github.com/pion/dtls/v2"
	"github.com/pion/dtls/v2/pkg/protocol"
	"github.com/pion/dtls/v2/pkg/protocol/recordlayer"
	"github.com/pion/logging"
	"github.com/pion/transport/v2/udp"

	dtlsdrv "github.com/iotd/iotd/drivers/posix/dtls"
)

// coapHandshakeTimeout bounds a DTLS handshake; it covers the SDK's
// mbedTLS retransmission schedule (2 s doubling to 8 s).
const coapHandshakeTimeout = 15 * time.Second

// coapReadBuffer holds one DTLS record's plaintext.
const coapReadBuffer = 8192

// coapPSKSuites are offered besides the hub's own TLS_PSK_WITH_AES_*_CBC_SHA
// (the custom suites, preferred), so pion clients and libcoap with OpenSSL
// connect whichever they pick.
var coapPSKSuites = []piondtls.CipherSuiteID{
	piondtls.TLS_PSK_WITH_AES_128_GCM_SHA256,
	piondtls.TLS_PSK_WITH_AES_128_CCM,
	piondtls.TLS_PSK_WITH_AES_128_CCM_8,
	piondtls.TLS_PSK_WITH_AES_128_CBC_SHA256,
}

// coapDTLSListener serves CoAP over DTLS 1.2 with PSKs: identity = client
// id, key = the base64-decoded device secret. A session per connection;
// each handshake runs on its own goroutine so a slow or failing peer does
// not hold up the others.
type coapDTLSListener struct {
	svc *CoAPService
	ln  net.Listener
}

func (s *CoAPService) listenDTLS(addr string) (*coapDTLSListener, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	lc := udp.ListenConfig{AcceptFilter: isDTLSHandshake}
	ln, err := lc.Listen("udp", ua)
	if err != nil {
		return nil, err
	}
	return &coapDTLSListener{svc: s, ln: ln}, nil
}

// isDTLSHandshake lets only a handshake record open a connection, so stray
// datagrams do not create sessions.
func isDTLSHandshake(packet []byte) bool {
	pkts, err := recordlayer.UnpackDatagram(packet)
	if err != nil || len(pkts) < 1 {
		return false
	}
	var h recordlayer.Header
	if err := h.Unmarshal(pkts[0]); err != nil {
		return false
	}
	return h.ContentType == protocol.ContentTypeHandshake
}

func (l *coapDTLSListener) addr() string { return l.ln.Addr().String() }

func (l *coapDTLSListener) close() { _ = l.ln.Close() }

func (l *coapDTLSListener) serve(context.Context) {
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			return // closed
		}
		l.svc.h.Go(func(ctx context.Context) { l.serveConn(ctx, conn) })
	}
}

// serveConn runs the handshake and then the session until the peer is
// idle for the idle timeout, the connection fails or the hub closes.
func (l *coapDTLSListener) serveConn(ctx context.Context, conn net.Conn) {
	h := l.svc.h
	remote := conn.RemoteAddr().String()
	var refusal error // why the PSK callback refused, for the log
	cfg := &piondtls.Config{
		PSK: func(identity []byte) ([]byte, error) {
			key, err := l.svc.pskFor(string(identity))
			refusal = err
			return key, err
		},
		CipherSuites:         coapPSKSuites,
		CustomCipherSuites:   dtlsdrv.PSKCipherSuites,
		ExtendedMasterSecret: piondtls.RequestExtendedMasterSecret,
		LoggerFactory:        pionLogs{h.log},
	}
	hctx, cancel := context.WithTimeout(ctx, coapHandshakeTimeout)
	dc, err := piondtls.ServerWithContext(hctx, conn, cfg)
	cancel()
	if err != nil {
		_ = conn.Close()
		if ctx.Err() != nil {
			return
		}
		l.svc.stats.handshakeFailed.Add(1)
		reason := err.Error()
		if refusal != nil {
			reason = refusal.Error()
		}
		h.log.Warn("CoAP DTLS handshake failed", "remote", remote, "reason", reason)
		return
	}
	id := string(dc.ConnectionState().IdentityHint)
	d, ok := h.store.DeviceByClientID(id)
	if !ok { // deleted between the PSK lookup and now
		_ = dc.Close()
		return
	}
	dev := DeviceRef{ProductID: d.ProductID, DeviceName: d.DeviceName}
	c := l.svc.newSession(remote, true, dev, func(b []byte) error {
		_, err := dc.Write(b)
		return err
	}, func() { _ = dc.Close() })
	if !l.svc.addSession(c) {
		_ = dc.Close()
		return
	}
	defer func() {
		// pion runs a timer goroutine per read deadline until it fires
		// or is cleared, even on a closed connection.
		_ = dc.SetReadDeadline(time.Time{})
		c.close()
		l.svc.removeSession(c)
	}()
	h.log.Debug("CoAP DTLS session", "device", dev.String(), "remote", remote)
	buf := make([]byte, coapReadBuffer)
	for {
		_ = dc.SetReadDeadline(time.Now().Add(l.svc.idle))
		n, err := dc.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				h.log.Debug("CoAP session expired", "device", dev.String(), "remote", remote, "idle", l.svc.idle)
			}
			return
		}
		c.handle(append([]byte(nil), buf[:n]...))
	}
}

// pskFor returns the key of the device whose client id is identity; an
// error fails the handshake. The error names the cause, never the key.
func (s *CoAPService) pskFor(identity string) ([]byte, error) {
	d, ok := s.h.store.DeviceByClientID(identity)
	switch {
	case !ok:
		return nil, fmt.Errorf("hubsim: coap: unknown PSK identity %q: use productId+deviceName of a device created with `hubsim device create`", identity)
	case d.Disabled:
		return nil, fmt.Errorf("hubsim: coap: device %s/%s is disabled", d.ProductID, d.DeviceName)
	case d.AuthMode != AuthKey:
		return nil, fmt.Errorf("hubsim: coap: device %s/%s uses %s authentication and has no PSK: use a KEY device", d.ProductID, d.DeviceName, d.AuthMode)
	}
	key, err := base64.StdEncoding.DecodeString(d.Secret)
	if err != nil || len(key) == 0 {
		return nil, fmt.Errorf("hubsim: coap: device %s/%s: secret in the registry is not base64; recreate the device", d.ProductID, d.DeviceName)
	}
	return key, nil
}

// pionLogs sends pion's log to the hub's at debug level: the endpoint logs
// what matters (handshake failures) itself.
type pionLogs struct{ log *slog.Logger }

func (p pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{p.log.With("pion", scope)}
}

type pionLogger struct{ log *slog.Logger }

func (p pionLogger) Trace(string)              {}
func (p pionLogger) Tracef(string, ...any)     {}
func (p pionLogger) Debug(msg string)          { p.log.Debug(msg) }
func (p pionLogger) Debugf(f string, a ...any) { p.log.Debug(fmt.Sprintf(f, a...)) }
func (p pionLogger) Info(msg string)           { p.log.Debug(msg) }
func (p pionLogger) Infof(f string, a ...any)  { p.log.Debug(fmt.Sprintf(f, a...)) }
func (p pionLogger) Warn(msg string)           { p.log.Debug(msg) }
func (p pionLogger) Warnf(f string, a ...any)  { p.log.Debug(fmt.Sprintf(f, a...)) }
func (p pionLogger) Error(msg string)          { p.log.Debug(msg) }
func (p pionLogger) Errorf(f string, a ...any) { p.log.Debug(fmt.Sprintf(f, a...)) }
