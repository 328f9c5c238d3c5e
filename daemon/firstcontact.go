package daemon

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/core/hub"
	"github.com/iotd/iotd/device"
)

// FirstContactError is the step at which [Daemon.FirstContact] stopped, what
// went wrong there and how to fix it.
type FirstContactError struct {
	Step, Msg, Fix string
}

func (e *FirstContactError) Error() string {
	return fmt.Sprintf("first contact failed at %s: %s", e.Step, e.Msg)
}

// FirstContact walks the daemon's first contact with the hub one step at a
// time and prints each step to w: the configuration, the identity, the
// endpoint and its trust, DNS, TCP, TLS (the server's chain and the CA that
// verified it), MQTT CONNECT, and the clock against the hub's. For a link
// driver that does its own networking (a modem, a plugin, WebSocket, TLS
// over another driver) DNS, TCP and TLS are one step through the driver;
// the CoAP channel is checked with [Daemon.CheckConnect]. It stops at the
// first failure, prints the fix and returns a *FirstContactError; warnings
// (a skewed clock) are printed and do not fail. Where the daemon itself
// would retry forever, this says why once.
//
// A running daemon of the same device is disconnected by the hub while the
// walk connects: the hub keeps one connection per client id. Like
// CheckConnect, FirstContact ends the daemon: it cannot Run afterwards.
//
// With several devices it walks each in turn, under a line naming it, and
// returns the failures joined, each naming its device.
func (d *Daemon) FirstContact(ctx context.Context, w io.Writer) error {
	if len(d.units) == 1 && !d.first().named {
		return d.first().FirstContact(ctx, w)
	}
	var errs []error
	for i, u := range d.units {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "device %s (%s):\n", u.name, u.Identity().ClientID())
		if err := u.FirstContact(ctx, w); err != nil {
			errs = append(errs, fmt.Errorf("device %s: %w", u.name, err))
		}
	}
	return errors.Join(errs...)
}

// FirstContact walks the device's first contact with the hub; see
// [Daemon.FirstContact]. The device cannot run afterwards.
func (d *Unit) FirstContact(ctx context.Context, w io.Writer) error {
	if d.dev.Contact().Channel == device.ChannelATTencent {
		return d.moduleFirstContact(ctx, w)
	}
	wk := &walk{d: d, w: w, c: d.Contact(), lc: d.dev.LinkConfig()}
	err := wk.run(ctx)
	d.dev.Close() // the outbox and the bus; CheckConnect's run (CoAP) closed them
	if err == nil {
		fmt.Fprintln(w, "connected: the hub accepted the device"+wk.warnings())
	}
	return err
}

// walk is one run of FirstContact.
type walk struct {
	d    *Unit
	w    io.Writer
	c    device.Contact
	lc   core.LinkConfig
	warn int // warnings printed
	// detail holds lines that explain the next failure, printed under it.
	detail []string
	// clientCert is the certificate the link presents, for certificate
	// devices.
	clientCert []tls.Certificate
}

// Step labels, padded so that the text lines up.
const stepWidth = 9

func (wk *walk) line(tag, step, text string) {
	fmt.Fprintf(wk.w, "%-6s %-*s%s\n", tag, stepWidth, step, text)
}

// more prints a line that belongs to the step above.
func (wk *walk) more(format string, args ...any) {
	fmt.Fprintf(wk.w, "%*s%s\n", 7+stepWidth, "", fmt.Sprintf(format, args...))
}

func (wk *walk) ok(step, format string, args ...any) {
	wk.line("[ok]", step, fmt.Sprintf(format, args...))
}

func (wk *walk) warning(step, msg, fix string) {
	wk.warn++
	wk.line("[warn]", step, msg)
	if fix != "" {
		fmt.Fprintf(wk.w, "       fix: %s\n", fix)
	}
}

func (wk *walk) fail(step, msg, fix string) error {
	wk.line("[FAIL]", step, msg)
	for _, l := range wk.detail {
		wk.more("%s", l)
	}
	wk.detail = nil
	if fix != "" {
		fmt.Fprintf(wk.w, "       fix: %s\n", fix)
	}
	return &FirstContactError{Step: step, Msg: msg, Fix: fix}
}

func (wk *walk) warnings() string {
	switch wk.warn {
	case 0:
		return ""
	case 1:
		return " (1 warning above)"
	}
	return fmt.Sprintf(" (%d warnings above)", wk.warn)
}

func (wk *walk) run(ctx context.Context) error {
	d := wk.d
	wk.ok("config", "%s", d.cfg.Source())
	if err := wk.identity(); err != nil {
		return err
	}
	wk.endpoint()
	if wk.c.Channel == device.ChannelCoAP {
		// CoAP has no CONNECT to send by hand: the uplink's auth request
		// is the session-level check.
		if err := d.CheckConnect(ctx); err != nil {
			return wk.fail("coap", err.Error(), wk.coapFix(err))
		}
		wk.ok("coap", "the hub accepted the device (CoAP auth over %s)", wk.c.Driver)
		return nil
	}
	conn, err := wk.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return wk.mqtt(ctx, conn)
}

// coapFix says how to fix a failed CoAP check.
func (wk *walk) coapFix(err error) string {
	if hint := wk.d.refusalHint(err.Error()); hint != "" {
		return hint
	}
	if hint := wk.c.Trust.Hint(err.Error()); hint != "" {
		return hint
	}
	fix := fmt.Sprintf("check link.endpoint and that this network lets UDP to %s out", wk.c.Endpoint)
	if strings.Contains(err.Error(), "handshake") && !wk.d.dev.Identity().IsCert() {
		fix = fmt.Sprintf("the DTLS handshake uses key_deviceinfo.deviceSecret in %s as its key, and the hub does not answer one made with a wrong secret: check the secret; else %s",
			wk.d.cfg.DeviceInfoPath(), fix)
	}
	return fix
}

// identity prints the device and checks what can be checked offline: that
// a certificate device's certificate and key load, belong together and are
// valid now.
func (wk *walk) identity() error {
	d := wk.d
	dev := d.dev.Identity()
	from := d.cfg.DeviceInfoPath()
	if !dev.IsCert() {
		method := d.cfg.MQTT.SignMethod
		if method == "" {
			method = string(core.HMACSHA1)
		}
		expiry := "never expires"
		if e := d.cfg.MQTT.UsernameExpiry; e > 0 {
			expiry = "valid for " + e.String()
		}
		wk.ok("identity", "%s: key device, username signed with %s (%s), from %s", dev.ClientID(), method, expiry, from)
		return nil
	}
	pair, err := tls.LoadX509KeyPair(dev.CertFile(), dev.KeyFile())
	if err != nil {
		return wk.fail("identity", fmt.Sprintf("%s: the device certificate cannot be used: %v", dev.ClientID(), err),
			fmt.Sprintf("cert_deviceinfo.devCertFile and devPrivateKeyFile in %s must be this device's PEM certificate and its private key", from))
	}
	wk.clientCert = []tls.Certificate{pair}
	leaf := pair.Leaf
	wk.ok("identity", "%s: certificate device, from %s", dev.ClientID(), from)
	wk.more("certificate %s: %s, issued by %s, valid until %s", dev.CertFile(), leaf.Subject, leaf.Issuer, day(leaf.NotAfter))
	now := time.Now()
	switch {
	case now.After(leaf.NotAfter):
		return wk.fail("identity", fmt.Sprintf("the device certificate expired on %s (this host's clock says %s)", day(leaf.NotAfter), day(now)),
			"download a new certificate for this device from the console and point devCertFile and devPrivateKeyFile at it; if the clock is wrong, set it")
	case now.Before(leaf.NotBefore):
		wk.warning("identity", fmt.Sprintf("the device certificate is valid only from %s, and this host's clock says %s", leaf.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)),
			"set this host's clock (NTP: timedatectl set-ntp true)")
	}
	return nil
}

func day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// endpoint prints where the link goes and what verifies the server.
func (wk *walk) endpoint() {
	c := wk.c
	via := c.Driver
	if c.Carrier != "" {
		via = "websocket over " + c.Carrier
	}
	from := c.EndpointFrom
	if !strings.HasPrefix(from, "region ") {
		from += "; region " + c.Region
	}
	if !c.RegionConfirmed {
		from += " (its registration and log endpoints are from the newer SDK's tables)"
	}
	proto := "mqtt"
	if c.Channel == device.ChannelCoAP {
		proto = "coap"
	}
	wk.ok("endpoint", "%s, %s over %s, from %s", c.Endpoint, proto, via, from)
	if c.Trust.Insecure {
		wk.warning("trust", c.Trust.From, "remove insecure_skip_verify from link.driver_config and set ca_file to the CA that signed the server's certificate")
		return
	}
	wk.more("trust: %s", c.Trust.From)
}

// linkSettings are the keys of the link's driver configuration the walk
// repeats by hand for the tls and tcp drivers.
type linkSettings struct {
	ServerName string `json:"server_name"`
	MinVersion string `json:"min_version"`
	Over       string `json:"over"`
	CertFile   string `json:"cert_file"`
	KeyFile    string `json:"key_file"`
}

// connect makes the connection MQTT runs over and prints how: DNS, TCP
// and TLS one by one for the tls and tcp drivers, else one step through
// the link's driver.
func (wk *walk) connect(ctx context.Context) (net.Conn, error) {
	var ls linkSettings
	_ = json.Unmarshal(wk.lc.DriverConfig, &ls) // the driver itself accepted it
	direct := wk.c.Channel == device.ChannelMQTT && (wk.c.Driver == "tcp" || wk.c.Driver == "tls" && ls.Over == "")
	if !direct {
		return wk.throughDriver(ctx)
	}
	host, port, _ := net.SplitHostPort(wk.c.Endpoint)
	addrs, err := wk.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	raw, err := wk.dialTCP(ctx, addrs, port)
	if err != nil {
		return nil, err
	}
	if wk.c.Driver == "tcp" {
		return raw, nil
	}
	if ls.CertFile != "" && (ls.CertFile != wk.d.dev.Identity().CertFile() || ls.KeyFile != wk.d.dev.Identity().KeyFile()) {
		pair, err := tls.LoadX509KeyPair(ls.CertFile, ls.KeyFile)
		if err != nil {
			raw.Close()
			return nil, wk.fail("tls", fmt.Sprintf("the client certificate in link.driver_config cannot be used: %v", err), "point cert_file and key_file at a PEM certificate and its key")
		}
		wk.clientCert = []tls.Certificate{pair}
	}
	serverName := ls.ServerName
	if serverName == "" {
		serverName = host
	}
	return wk.handshake(ctx, raw, serverName, ls.MinVersion)
}

func (wk *walk) dialTimeout() time.Duration {
	if wk.lc.DialTimeout > 0 {
		return wk.lc.DialTimeout
	}
	return core.DefaultDialTimeout
}

// resolve looks host up, or takes it as it is when it is an address.
func (wk *walk) resolve(ctx context.Context, host string) ([]string, error) {
	if net.ParseIP(host) != nil {
		wk.ok("dns", "%s is an address: no lookup", host)
		return []string{host}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, wk.dialTimeout())
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(ctx, host)
	if err == nil && len(addrs) == 0 {
		err = &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
	}
	if err != nil {
		var de *net.DNSError
		if errors.As(err, &de) && (de.IsTimeout || ctx.Err() != nil) {
			return nil, wk.fail("dns", fmt.Sprintf("no answer from the DNS server for %s within %s", host, wk.dialTimeout()),
				"check this host's network and its DNS servers (/etc/resolv.conf)")
		}
		fix := fmt.Sprintf("check link.endpoint in %s for a typo; else check this host's DNS (/etc/resolv.conf) and network", wk.d.cfg.Source())
		if strings.HasPrefix(wk.c.EndpointFrom, "region ") {
			fix = fmt.Sprintf("the name is productId %q under region %s's domain: check productId in %s and the region (region in %s or device_info.json); else check this host's DNS (/etc/resolv.conf) and network",
				wk.d.dev.Identity().ProductID, wk.c.Region, wk.d.cfg.DeviceInfoPath(), wk.d.cfg.Source())
		}
		return nil, wk.fail("dns", fmt.Sprintf("%s does not resolve: %v", host, err), fix)
	}
	wk.ok("dns", "%s → %s", host, strings.Join(addrs, ", "))
	return addrs, nil
}

// dialTCP connects to the first address of addrs that answers.
func (wk *walk) dialTCP(ctx context.Context, addrs []string, port string) (net.Conn, error) {
	dialer := net.Dialer{Timeout: wk.dialTimeout()}
	var firstErr error
	for _, a := range addrs {
		c, err := dialer.DialContext(ctx, "tcp", net.JoinHostPort(a, port))
		if err == nil {
			wk.ok("tcp", "%s → %s", c.LocalAddr(), c.RemoteAddr())
			return c, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	target := net.JoinHostPort(addrs[0], port)
	if len(addrs) > 1 {
		target = fmt.Sprintf("%s (and %d more addresses)", target, len(addrs)-1)
	}
	blocked := fmt.Sprintf("a firewall on the way may block outgoing TCP port %s; check this host's route to it", port)
	if port == "8883" {
		blocked += "; on a network that lets only HTTPS out, use channel: websocket (MQTT over wss, port 443)"
	}
	var ne net.Error
	switch {
	case errors.Is(firstErr, syscall.ECONNREFUSED):
		return nil, wk.fail("tcp", fmt.Sprintf("%s refused the connection: nothing listens on port %s there", target, port),
			fmt.Sprintf("check the port of link.endpoint (MQTT over TLS is 8883, plain MQTT 1883, WebSocket 443 and 80); if it is right, %s", blocked))
	case errors.As(firstErr, &ne) && ne.Timeout():
		return nil, wk.fail("tcp", fmt.Sprintf("no answer from %s within %s", target, wk.dialTimeout()), blocked)
	}
	return nil, wk.fail("tcp", fmt.Sprintf("cannot connect to %s: %v", target, firstErr), blocked)
}

// throughDriver dials with the daemon's own link: the driver resolves,
// connects and secures as it does when the daemon runs.
func (wk *walk) throughDriver(ctx context.Context) (net.Conn, error) {
	name := wk.c.Driver
	if wk.c.Carrier != "" {
		name += " over " + wk.c.Carrier
	}
	var ls linkSettings
	if json.Unmarshal(wk.lc.DriverConfig, &ls) == nil && ls.Over != "" && wk.c.Carrier == "" {
		name += " over " + ls.Over
	}
	conn, err := wk.d.dev.Link().Dial(ctx)
	if err != nil {
		return nil, wk.fail("connect", fmt.Sprintf("through driver %s to %s: %v", name, wk.c.Endpoint, err), wk.dialFix(err))
	}
	wk.ok("connect", "through driver %s: %s → %s", name, conn.LocalAddr(), conn.RemoteAddr())
	if tc, err := driver.Lookup[*tls.Conn](conn); err == nil {
		wk.printTLS(tc.ConnectionState())
	}
	return conn, nil
}

// dialFix says how to fix a failed dial through a driver, from the
// driver contract's sentinels.
func (wk *walk) dialFix(err error) string {
	text := err.Error()
	switch {
	case errors.Is(err, driver.ErrHandshake):
		if hint := wk.c.Trust.Hint(text); hint != "" {
			return hint
		}
		if hint := wk.d.refusal().hint(text); hint != "" {
			return hint
		}
		return "the TLS handshake failed: the error above says what the driver found"
	case errors.Is(err, driver.ErrUnreachable):
		return "the name does not resolve or the host is unreachable from the driver's network: check link.endpoint, the region, and the driver's network (a modem's APN and registration)"
	case errors.Is(err, driver.ErrRefused):
		return "nothing listens on that port: check the port of link.endpoint; a firewall may reject it"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, driver.ErrReset):
		return "no complete answer: a firewall may block the port, or the driver's network is down (`iotd drivers` probes the drivers)"
	}
	return "see the driver's error above; `iotd drivers` probes the drivers"
}

// handshake runs the TLS handshake as the tls driver does, with the
// contact's trust, but verifies the server itself so that it can show the
// chain the server sent even when it is refused, and which CA accepted it.
func (wk *walk) handshake(ctx context.Context, raw net.Conn, serverName, minVersion string) (net.Conn, error) {
	trust := wk.c.Trust
	var (
		peer   []*x509.Certificate
		chains [][]*x509.Certificate
		verr   error
	)
	minV := uint16(tls.VersionTLS12)
	if minVersion == "1.3" {
		minV = tls.VersionTLS13
	}
	tc := tls.Client(raw, &tls.Config{
		ServerName:   serverName,
		Certificates: wk.clientCert,
		MinVersion:   minV,
		// Verified below, as crypto/tls would (roots, name, validity).
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			peer = cs.PeerCertificates
			if trust.Insecure || len(peer) == 0 {
				return nil
			}
			inter := x509.NewCertPool()
			for _, c := range peer[1:] {
				inter.AddCert(c)
			}
			chains, verr = peer[0].Verify(x509.VerifyOptions{Roots: trust.Pool, DNSName: serverName, Intermediates: inter})
			return verr
		},
	})
	hctx, cancel := context.WithTimeout(ctx, wk.dialTimeout())
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		raw.Close()
		return nil, wk.tlsFailure(err, verr, peer, serverName)
	}
	cs := tc.ConnectionState()
	cs.VerifiedChains, cs.ServerName = chains, serverName
	wk.printTLS(cs)
	return tc, nil
}

// printTLS prints an established TLS session: version, the server's chain
// and what verified it.
func (wk *walk) printTLS(cs tls.ConnectionState) {
	name := ""
	if cs.ServerName != "" {
		name = ", server name " + cs.ServerName
	}
	wk.ok("tls", "%s, %s%s", tls.VersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite), name)
	wk.printChain(cs.PeerCertificates)
	switch {
	case wk.c.Trust.Insecure:
		wk.more("NOT verified: insecure_skip_verify")
	case len(cs.VerifiedChains) > 0:
		chain := cs.VerifiedChains[0]
		wk.more("verified by %s", wk.caOrigin(chain[len(chain)-1]))
	}
	if len(wk.clientCert) > 0 {
		if cs.Version >= tls.VersionTLS13 {
			wk.more("client certificate sent; under TLS 1.3 the hub's verdict on it comes after the handshake, with the first read")
		} else {
			wk.more("client certificate accepted")
		}
	}
}

func (wk *walk) printChain(certs []*x509.Certificate) {
	for _, l := range chainLines(certs) {
		wk.more("%s", l)
	}
}

// chainLines describes a certificate chain, the server's first.
func chainLines(certs []*x509.Certificate) []string {
	var out []string
	for i, c := range certs {
		label := "server"
		if i > 0 {
			label = "  then"
		}
		out = append(out, fmt.Sprintf("%s: %s, issued by %s, valid until %s", label, c.Subject, c.Issuer, day(c.NotAfter)))
	}
	return out
}

// caOrigin names a trusted root and says where the trust in it comes from:
// the bundle (with the file), the configured file, or the system roots.
func (wk *walk) caOrigin(root *x509.Certificate) string {
	name := caName(root)
	if ca, ok := hub.Find(root); ok {
		return fmt.Sprintf("%s (bundled, %s)", name, ca.File)
	}
	for _, c := range wk.c.Trust.Certs {
		if c.Equal(root) {
			return fmt.Sprintf("%s (%s)", name, wk.c.Trust.From)
		}
	}
	return name + " (system roots)"
}

// caName is how a user would name a CA: its common name, or its
// organisational unit when the common name is a host name (Tencent's 2017
// CA is CN=www.tencent.com, OU=Tencent Iothub).
func caName(c *x509.Certificate) string {
	cn := c.Subject.CommonName
	if strings.Contains(cn, ".") && len(c.Subject.OrganizationalUnit) > 0 {
		return c.Subject.OrganizationalUnit[0] + " CA"
	}
	if len(cn) < 4 {
		return c.Subject.String()
	}
	return cn
}

// tlsFailure reports a failed handshake: verr is the walk's own
// verification error, peer the chain the server sent (if it got that far).
func (wk *walk) tlsFailure(err, verr error, peer []*x509.Certificate, serverName string) error {
	var (
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
	)
	switch {
	case errors.As(verr, &unknown):
		end := peer[len(peer)-1]
		msg := fmt.Sprintf("the server's certificate chain ends in %q, a CA outside the trust (%s)", end.Issuer.String(), wk.c.Trust.From)
		for _, c := range wk.c.Trust.Certs {
			if bytes.Equal(c.RawSubject, end.RawIssuer) {
				msg += "; the trust holds a CA of that name, but not the one that signed this chain (was the CA made anew, or is this another server?)"
				break
			}
		}
		wk.printFailedChain(peer)
		return wk.fail("tls", msg, wk.c.Trust.Hint("not a trusted CA"))
	case errors.As(verr, &host):
		wk.printFailedChain(peer)
		return wk.fail("tls", fmt.Sprintf("the server's certificate is for %s, not %s", certNames(host.Certificate), serverName),
			fmt.Sprintf("set server_name in link.driver_config to one of those names, or use one of them in link.endpoint (in %s)", wk.d.cfg.Source()))
	case errors.As(verr, &invalid) && invalid.Reason == x509.Expired:
		c := invalid.Cert
		wk.printFailedChain(peer)
		return wk.fail("tls", fmt.Sprintf("the server's certificate %s is valid from %s to %s, and this host's clock says %s",
			c.Subject, c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339), time.Now().UTC().Format(time.RFC3339)),
			"if this clock is wrong, set it (NTP: timedatectl set-ntp true); else the server's certificate has expired")
	case verr != nil:
		wk.printFailedChain(peer)
		return wk.fail("tls", "the server's certificate does not verify: "+verr.Error(), "set ca_file in link.driver_config to the CA that signed it")
	}
	var op *net.OpError
	text := err.Error()
	switch {
	case errors.As(err, &op) && op.Op == "remote error":
		if len(wk.clientCert) > 0 && strings.Contains(text, "certificate") {
			return wk.fail("tls", "the hub refused the client certificate during the handshake ("+op.Err.Error()+")", wk.d.refusal().certHint())
		}
		return wk.fail("tls", "the server refused the handshake ("+op.Err.Error()+")",
			"is this the hub's TLS port? a server that requires a client certificate refuses a key device")
	case errors.Is(err, context.DeadlineExceeded):
		return wk.fail("tls", fmt.Sprintf("no TLS answer within %s", wk.dialTimeout()), "is the endpoint a TLS port? plain MQTT (1883) needs link.driver: tcp")
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
		fix := "is the endpoint a TLS port? plain MQTT (1883) needs link.driver: tcp"
		if len(wk.clientCert) > 0 {
			fix += "; or " + wk.d.refusal().certHint()
		}
		return wk.fail("tls", "the server closed the connection during the TLS handshake ("+text+")", fix)
	case strings.Contains(text, "protocol version"):
		return wk.fail("tls", "no TLS version both sides accept ("+text+")", "remove min_version from link.driver_config (the hub speaks TLS 1.2)")
	}
	return wk.fail("tls", text, "")
}

// printFailedChain has the chain the server sent printed under the
// failure.
func (wk *walk) printFailedChain(peer []*x509.Certificate) {
	if len(peer) > 0 {
		wk.detail = append([]string{"the server sent:"}, chainLines(peer)...)
	}
}

// certNames lists the names a certificate holds.
func certNames(c *x509.Certificate) string {
	names := append([]string(nil), c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		return fmt.Sprintf("CN %q (no subject alternative names)", c.Subject.CommonName)
	}
	return strings.Join(names, ", ")
}

// moduleFirstContact is FirstContact for the at-tencent channel: the
// module does DNS, TCP, TLS and CONNECT itself, so the walk is one step,
// the session's outcome as the module reports it.
func (d *Unit) moduleFirstContact(ctx context.Context, w io.Writer) error {
	fmt.Fprintf(w, "config   ok   %s\nmodule   ..   %s: the module connects to the hub itself\n", d.cfg.Source(), d.cfg.ATTencent.Port)
	if err := d.CheckConnect(ctx); err != nil {
		return &FirstContactError{Step: "module", Msg: err.Error(),
			Fix: "check at_tencent.port and baud, that the module runs Tencent's AT firmware (AT+TCMODULE), its network (at_tencent.ssid), and the device identity"}
	}
	fmt.Fprintln(w, "connected: the hub accepted the device (through the module)")
	return nil
}
