package websocket

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	gorilla "github.com/gorilla/websocket"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/driver"
)

// writeBuffer is the write buffer of a dialled conn: a Write up to its
// size goes out as a single frame, as the C SDK sends every MQTT packet.
// It holds the hub's largest publish (16 KiB of payload) with room to
// spare; a longer Write is sent as a fragmented message.
const writeBuffer = 32 << 10

// New returns the "websocket" driver, which resolves its "over" driver
// in core.Default.
func New() driver.Driver { return wsDriver{} }

// NewIn is [New] resolving "over" in reg rather than core.Default.
func NewIn(reg *core.Registry) driver.Driver { return wsDriver{reg: reg} }

type wsDriver struct {
	reg *core.Registry // where "over" is looked up; nil: core.Default
}

func (wsDriver) Name() string                   { return "websocket" }
func (wsDriver) Transports() []driver.Transport { return []driver.Transport{driver.Stream} }

// Probe has nothing to check: the carrier is only known from a
// configuration, and the carrier driver is probed on its own.
func (wsDriver) Probe(context.Context) error { return nil }

// Open decodes and validates the configuration and opens the carrier
// driver with over_config.
func (w wsDriver) Open(config []byte) (driver.Dialer, error) {
	c, err := decodeConfig(config)
	if err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c = c.withDefaults()
	reg := w.reg
	if reg == nil {
		reg = core.Default
	}
	inner, err := reg.Driver(c.Over)
	if err != nil {
		return nil, invalid("over", err.Error())
	}
	if !slices.Contains(inner.Transports(), driver.Stream) {
		return nil, invalid("over", fmt.Sprintf("driver %q offers no stream transport", c.Over))
	}
	under, err := inner.Open(c.OverConfig)
	if err != nil {
		return nil, fmt.Errorf("websocket: over %s: %w", c.Over, err)
	}
	header := http.Header{}
	for k, v := range c.Headers {
		header.Set(k, v)
	}
	return &dialer{cfg: c, under: under, header: header}, nil
}

type dialer struct {
	cfg    Config // with defaults
	under  driver.Dialer
	header http.Header // extra request headers; never written to
}

// Dial dials the carrier to address and runs the WebSocket handshake over
// it, both bounded by ctx. The request is "GET <path> HTTP/1.1" with
// "Host: <address>", the port always written, as the C SDK sends it.
func (d *dialer) Dial(ctx context.Context, transport driver.Transport, address string) (driver.Conn, error) {
	if transport != driver.Stream {
		return nil, fmt.Errorf("websocket: dial %s: %w: transport %q (websocket offers %q)", address, driver.ErrNotSupported, transport, driver.Stream)
	}
	if _, _, err := net.SplitHostPort(address); err != nil {
		return nil, fmt.Errorf("websocket: dial %s: %w", address, err)
	}
	raw, err := d.under.Dial(ctx, driver.Stream, address)
	if err != nil {
		return nil, fmt.Errorf("websocket: dial %s over %s: %w", address, d.cfg.Over, err)
	}
	// gorilla bounds the handshake by ctx's deadline only; cancelling ctx
	// must end it too.
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) })
	ws, resp, err := (&gorilla.Dialer{
		NetDialContext:  func(context.Context, string, string) (net.Conn, error) { return raw, nil },
		Subprotocols:    []string{d.cfg.Subprotocol},
		WriteBufferSize: writeBuffer,
	}).DialContext(ctx, "ws://"+address+d.cfg.Path, d.header)
	if !stop() && err == nil {
		// ctx ended just as the handshake finished: the carrier's deadline
		// may be set, and the caller is gone.
		_ = ws.Close()
		return nil, fmt.Errorf("websocket: dial %s: %w", address, context.Cause(ctx))
	}
	if err != nil {
		_ = raw.Close() // gorilla closes it on most failures, not all
		return nil, d.handshakeError(ctx, address, resp, err)
	}
	if got := ws.Subprotocol(); got != d.cfg.Subprotocol {
		_ = ws.Close()
		return nil, fmt.Errorf("websocket: dial %s: %w: the server accepted GET %s without selecting subprotocol %q (it chose %q): it may not serve MQTT at this path; check the websocket path and subprotocol",
			address, driver.ErrHandshake, d.cfg.Path, d.cfg.Subprotocol, got)
	}
	return NewConn(ws), nil
}

// handshakeError explains a failed handshake. A refusal by the server,
// or an answer that is not HTTP, wraps driver.ErrHandshake: the same
// configuration fails the same way again. The carrier's errors keep
// their sentinels.
func (d *dialer) handshakeError(ctx context.Context, address string, resp *http.Response, err error) error {
	prefix := fmt.Sprintf("websocket: dial %s", address)
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%s: handshake: %w: %w", prefix, context.Cause(ctx), err)
	}
	if resp != nil {
		return fmt.Errorf("%s: %w: server answered HTTP %s%s to GET %s: %s",
			prefix, driver.ErrHandshake, resp.Status, bodyLine(resp), d.cfg.Path, statusHint(resp.StatusCode))
	}
	var ne net.Error
	switch {
	case errors.As(err, &ne) || hasSentinel(err):
		return fmt.Errorf("%s: handshake: %w", prefix, err)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%s: %w: the server closed the connection without answering GET %s (%w): check the port and whether TLS is needed (over: tls)",
			prefix, driver.ErrReset, d.cfg.Path, err)
	}
	// http.ReadResponse failed: the server does not speak HTTP here.
	return fmt.Errorf("%s: %w: the server's answer to GET %s is not HTTP (%w): check the port (the hub's WebSocket ports are 443 with TLS, 80 without) and whether TLS is needed (over: tls)",
		prefix, driver.ErrHandshake, d.cfg.Path, err)
}

// hasSentinel reports whether err carries one of the sentinels a
// carrier's I/O errors have.
func hasSentinel(err error) bool {
	for _, s := range []error{driver.ErrReset, driver.ErrBadConn, driver.ErrHandshake, net.ErrClosed} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// bodyLine returns the first line of a refusal's body, quoted, as
// ` ("...")`, or "" when there is none: servers often say there why.
func bodyLine(resp *http.Response) string {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512)) // gorilla kept up to 1 KiB
	line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	line = strings.TrimSpace(line)
	if line == "" {
		return ""
	}
	if len(line) > 120 {
		line = line[:120] + "..."
	}
	return fmt.Sprintf(" (%q)", line)
}

// statusHint says what to check for a refused upgrade.
func statusHint(code int) string {
	switch {
	case code == http.StatusSwitchingProtocols:
		return "the upgrade headers were wrong (not a WebSocket server?)"
	case code == http.StatusNotFound:
		return "check the websocket path"
	case code == http.StatusBadRequest:
		return "check the subprotocol and the headers, and whether TLS is needed (over: tls)"
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return "the server wants other credentials or headers"
	case code >= 300 && code < 400:
		return "the server redirects; point the address and path at the target"
	case code == http.StatusUpgradeRequired || code == http.StatusMethodNotAllowed:
		return "the server does not take WebSocket upgrades here; check the port and path"
	}
	return "check the address, port and websocket path"
}
