package atsim

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/hub"
)

// The module's MQTT client task (qcloud_at_mqtt.c: _mqtt_client_task and
// the do_mqtt_* calls). It is a real MQTT client (paho) over a real TLS
// connection from this process, signed in with the device info the host
// set: client id, username and HMAC password from core.MQTTCredentials.
// The firmware does TLS-PSK (PROTOCOL.md §1.3), which Go's crypto/tls does
// not offer; the hub (and hubsim) accept the signed password over
// certificate TLS as well, as the Python SDK sends it.

// tcSession is a running client task: connected, or reconnecting. Its
// fields are guarded by Modem.mu.
type tcSession struct {
	d      *tencent
	dev    tcDevInfo
	params tcParams
	ctx    context.Context // ends when the task must end
	cancel context.CancelFunc
	link   *tcLink // the connection up now; nil while down
	subs   []tcSub // the SDK's sub_handles, in subscription order
}

// tcSub is one subscription. ota marks the OTA service's own, whose
// messages go to the OTA task, not to the host.
type tcSub struct {
	topic string
	qos   byte
	ota   bool
}

// tcLink is one MQTT connection.
type tcLink struct {
	client paho.Client
	conn   *cutConn
	// gone is closed when paho has noticed the connection's loss and
	// stopped its workers.
	gone     chan struct{}
	goneOnce sync.Once
	// dead: torn down by the module; its callbacks do nothing (Modem.mu).
	dead bool
	// graceful: already disconnected with an MQTT DISCONNECT.
	graceful bool
}

// newSessionLocked starts the client task; its result comes as
// +TCMQTTCONN.
func (d *tencent) newSessionLocked(p tcParams) *tcSession {
	ctx, cancel := context.WithCancel(d.m.ctx)
	s := &tcSession{d: d, dev: d.dev, params: p, ctx: ctx, cancel: cancel}
	d.sess = s
	return s
}

// endLocked ends the task: the module forgets it at once; the goroutine
// closes the connection.
func (s *tcSession) endLocked() {
	s.cancel()
	if s.link != nil {
		s.link.dead = true
	}
	if s.d.sess == s {
		s.d.sess = nil
		s.d.stopOTALocked()
	}
	s.d.m.cond.Broadcast()
}

// dropLinkLocked breaks the connection under the client (Wi-Fi lost): the
// client notices as it would a peer's close.
func (s *tcSession) dropLinkLocked() {
	if s.link != nil {
		s.link.conn.cut()
	}
}

// run is the task's goroutine: connect, then watch the connection and
// reconnect as the SDK does until the task ends.
func (s *tcSession) run() {
	m := s.d.m
	defer s.teardown()
	l, code := s.connect()
	m.mu.Lock()
	if s.ctx.Err() != nil {
		m.mu.Unlock()
		if l != nil {
			l.shutdown()
		}
		return
	}
	s.d.busy = false
	if code != 0 {
		m.emitLocked(tcLine(fmt.Sprintf("+TCMQTTCONN:FAIL,%d", code)))
		s.endLocked()
		m.mu.Unlock()
		return
	}
	s.link, s.d.params = l, s.params
	m.emitLocked(tcLine("+TCMQTTCONN:OK"))
	m.mu.Unlock()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-l.gone:
		}
		if l = s.recover(l); l == nil {
			return
		}
	}
}

// teardown closes whatever connection the ended task still holds.
func (s *tcSession) teardown() {
	m := s.d.m
	m.mu.Lock()
	l := s.link
	s.link = nil
	s.endLocked()
	m.mu.Unlock()
	if l != nil {
		l.shutdown()
	}
}

// recover handles the loss of connection l as the firmware and its SDK
// do: +TCMQTTDISCON,-103 (MQTT_EVENT_DISCONNECT); without auto-reconnect
// the task ends with a second +TCMQTTDISCON,-103 (the yield's
// QCLOUD_ERR_MQTT_NO_CONN); with it, +TCMQTTRECONNECTING before each
// attempt, a first wait of 1–2 s doubling after each failure, and
// +TCMQTTDISCON,-106 when the next wait would pass 60 s (PROTOCOL.md
// §1.5). On success the subscriptions are restored, then
// +TCMQTTRECONNECTED. It returns the new connection, or nil when the task
// ended.
func (s *tcSession) recover(l *tcLink) *tcLink {
	m := s.d.m
	noConn := fmt.Sprintf("+TCMQTTDISCON,%d", core.CodeMQTTNoConn)
	m.mu.Lock()
	if s.ctx.Err() != nil || s.link != l {
		m.mu.Unlock()
		return nil
	}
	s.link, l.dead = nil, true
	m.emitLocked(tcLine(noConn))
	if !s.params.reconnect {
		m.emitLocked(tcLine(noConn))
		s.endLocked()
		m.mu.Unlock()
		return nil
	}
	wait := time.Duration(100+m.rng.IntN(101)) * 10 * time.Millisecond
	m.mu.Unlock()
	for {
		m.mu.Lock()
		if s.ctx.Err() != nil {
			m.mu.Unlock()
			return nil
		}
		m.emitLocked(tcLine("+TCMQTTRECONNECTING"))
		m.mu.Unlock()
		if !sleepCtx(s.ctx.Done(), wait) {
			return nil
		}
		nl, code := s.connect()
		m.mu.Lock()
		switch {
		case s.ctx.Err() != nil:
			m.mu.Unlock()
			if nl != nil {
				nl.shutdown()
			}
			return nil
		case code == 0:
			s.link = nl
			subs := slices.Clone(s.subs)
			m.mu.Unlock()
			s.resubscribe(nl, subs)
			m.mu.Lock()
			if s.link == nl {
				m.emitLocked(tcLine("+TCMQTTRECONNECTED"))
			}
			m.mu.Unlock()
			return nl
		}
		wait *= 2
		if wait > 60*time.Second {
			m.emitLocked(tcLine(fmt.Sprintf("+TCMQTTDISCON,%d", core.CodeMQTTReconnectTimeout)))
			s.endLocked()
			m.mu.Unlock()
			return nil
		}
		m.mu.Unlock()
	}
}

// resubscribe restores the subscriptions on a new connection
// (qcloud_iot_mqtt_resubscribe); the firmware says nothing about it.
func (s *tcSession) resubscribe(l *tcLink, subs []tcSub) {
	for _, sub := range subs {
		tok := l.client.Subscribe(sub.topic, sub.qos, nil)
		if !waitToken(s.ctx, tok, s.params.timeout) {
			return
		}
	}
}

// connect makes one connection: TCP and TLS to the broker, then MQTT
// CONNECT. The code is what +TCMQTTCONN:FAIL carries: the SDK's
// IOT_MQTT_GetErrCode (-113..-117 for a refusing CONNACK, -1001 for a
// failed network or TLS connection, as SDK v3.2.0 reports a failed TLS
// connect), or 202 when <cmdtimeout> passes first (do_mqtt_connect).
func (s *tcSession) connect() (*tcLink, int) {
	m := s.d.m
	ctx, cancel := context.WithTimeout(s.ctx, s.params.timeout)
	defer cancel()
	timedOut := func() int {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return tcErrTimeout
		}
		return int(core.CodeFailure)
	}
	info := &core.DeviceInfo{AuthMode: core.AuthKey, ProductID: s.dev.pid, DeviceName: s.dev.dn,
		KeyDeviceInfo: core.KeyDeviceInfo{DeviceSecret: s.dev.secret}}
	creds, err := core.MQTTCredentials(info, core.CredentialOptions{})
	if err != nil {
		// the firmware would sign with whatever it holds; core refuses a
		// secret that is not base64 or a name the hub cannot have
		m.log.Debug("atsim: tencent: credentials", "err", err)
		return nil, int(core.CodeInval)
	}
	m.mu.Lock()
	online := s.d.wifi != ""
	addr := s.d.brokerLocked(s.dev)
	m.mu.Unlock()
	if !online {
		return nil, int(core.CodeFailure)
	}
	tc, tcp, err := s.d.dialTLS(ctx, addr, s.d.mqttRoots())
	if err != nil {
		m.log.Debug("atsim: tencent: broker connection failed", "err", err)
		return nil, timedOut()
	}
	raw := &cutConn{Conn: tc, tcp: tcp}
	l := &tcLink{conn: raw, gone: make(chan struct{})}
	var handed bool
	opts := paho.NewClientOptions().
		AddBroker("tcp://" + addr).
		SetCustomOpenConnectionFn(func(*url.URL, paho.ClientOptions) (net.Conn, error) {
			if handed {
				return nil, errors.New("atsim: tencent: connection already used")
			}
			handed = true
			return raw, nil
		}).
		SetClientID(creds.ClientID).
		SetUsername(creds.Username).
		SetPassword(creds.Password).
		SetProtocolVersion(4).
		SetCleanSession(s.params.clean).
		SetKeepAlive(time.Duration(s.params.keepalive) * time.Second).
		SetConnectTimeout(s.params.timeout).
		SetWriteTimeout(s.params.timeout).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetOrderMatters(true).
		SetDefaultPublishHandler(func(_ paho.Client, msg paho.Message) { s.deliver(l, msg.Topic(), msg.Payload()) }).
		SetConnectionLostHandler(func(paho.Client, error) { l.goneOnce.Do(func() { close(l.gone) }) })
	l.client = paho.NewClient(opts)
	tok := l.client.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		raw.cut()
		<-tok.Done()
		return nil, timedOut()
	}
	if err := tok.Error(); err != nil {
		raw.cut()
		if rc := tok.(*paho.ConnectToken).ReturnCode(); rc >= 1 && rc <= 5 {
			return nil, int((&core.ConnackError{ReturnCode: rc}).Code())
		}
		return nil, int(core.CodeFailure)
	}
	return l, 0
}

// shutdown closes l. A connection still up is cut without DISCONNECT (a
// reboot, Close), and paho's workers are waited for.
func (l *tcLink) shutdown() {
	if l.graceful {
		return
	}
	l.conn.cut()
	select {
	case <-l.gone:
	case <-time.After(5 * time.Second):
		// paho did not report it (it never saw the connection up)
	}
	l.client.Disconnect(0)
}

// errCut is what a cut connection's reads return. paho takes the error of
// a connection closed under it ("use of closed network connection") for
// its own doing and reports no loss; this one it reports.
var errCut = errors.New("atsim: tencent: connection cut")

// cutConn is the client's TLS connection; cut drops the TCP connection
// under it, as a power cut or a lost network does: no TLS close_notify,
// no MQTT DISCONNECT.
type cutConn struct {
	net.Conn          // TLS
	tcp      net.Conn // under it
	isCut    atomic.Bool
}

func (c *cutConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil && c.isCut.Load() {
		err = errCut
	}
	return n, err
}

func (c *cutConn) cut() {
	c.isCut.Store(true)
	c.tcp.Close()
}

// brokerLocked is where the client connects: Config.Tencent.Broker, else
// the AT+TCMQTTSRV host or the hub's {productId}.{domain} on 8883.
func (d *tencent) brokerLocked(dev tcDevInfo) string {
	if b := d.m.cfg.Tencent.Broker; b != "" {
		return b
	}
	host := d.srv
	if host == "" {
		host = dev.pid + "." + regionDomain(dev.region)
	}
	return net.JoinHostPort(host, fmt.Sprint(hub.PortMQTTTLS))
}

// regionDomain maps the device's region to the hub's MQTT domain. The
// firmware's regions are named like "ap-guangzhou" (its default) while
// core/hub names them "china", "us-east"...: a name core/hub knows is
// used, anything else is china (an assumption: the doc lists no table).
func regionDomain(region string) string {
	r, err := hub.LookupRegion(region)
	if err != nil {
		r, _ = hub.LookupRegion("")
	}
	return r.Domain
}

func (d *tencent) mqttRoots() *x509.CertPool {
	if p := d.m.cfg.Tencent.RootCAs; p != nil {
		return p
	}
	return hub.Pool(nil, hub.HubCAs())
}

// dialTLS opens a TLS connection to addr from this process, resolving and
// dialling as the socket personalities do; tcp is the connection under it.
func (d *tencent) dialTLS(ctx context.Context, addr string, roots *x509.CertPool) (c *tls.Conn, tcp net.Conn, err error) {
	m := d.m
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, err
	}
	ip, err := m.resolve(host)
	if err != nil {
		return nil, nil, err
	}
	tcp, err = m.cfg.Dial(ctx, "tcp", net.JoinHostPort(ip, port))
	if err != nil {
		return nil, nil, err
	}
	c = tls.Client(tcp, &tls.Config{ServerName: host, RootCAs: roots, MinVersion: tls.VersionTLS12})
	if err := c.HandshakeContext(ctx); err != nil {
		tcp.Close()
		return nil, nil, err
	}
	return c, tcp, nil
}

// deliver reports a message from the broker. Messages on no subscription
// of the host's are dropped (the SDK's MQTT_EVENT_PUBLISH_RECVEIVED, which
// the firmware only logs). While the host does not read, paho waits, and
// so does the broker's TCP connection.
func (s *tcSession) deliver(l *tcLink, topic string, payload []byte) {
	m := s.d.m
	m.mu.Lock()
	defer m.mu.Unlock()
	for !l.dead && !m.closed && m.outLen >= maxOutQueue {
		m.cond.Wait()
	}
	if l.dead || m.closed {
		return
	}
	for _, sub := range s.subs {
		if !topicMatch(sub.topic, topic) {
			continue
		}
		if sub.ota {
			s.d.otaMessageLocked(payload)
		} else {
			m.emitLocked(rcvpub(topic, payload))
		}
		return
	}
}

// rcvpub is the URC +TCMQTTRCVPUB:"<topic>",<len>,"<payload>" as the
// firmware writes it (qcloud_at_mqtt.c _on_message_callback): the payload
// raw between the quotes, nothing escaped, and the whole line written
// with strlen, so that a NUL byte in the payload ends the output there,
// without the closing quote and CR LF, though <len> counts every byte.
func rcvpub(topic string, payload []byte) unit {
	b := fmt.Appendf(nil, "+TCMQTTRCVPUB:\"%s\",%d,\"", topic, len(payload))
	b = append(b, payload...)
	b = append(b, '"', '\r', '\n')
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return b
}

// topicMatch reports whether topic matches filter, with MQTT's '+' and
// '#' wildcards (the SDK dispatches with them, PROTOCOL.md §1.5).
func topicMatch(filter, topic string) bool {
	fs, ts := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, f := range fs {
		if f == "#" {
			return true
		}
		if i >= len(ts) || (f != "+" && f != ts[i]) {
			return false
		}
	}
	return len(fs) == len(ts)
}

// waitToken waits for tok up to timeout; false when it did not complete
// or failed.
func waitToken(ctx context.Context, tok paho.Token, timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-tok.Done():
		return tok.Error() == nil
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}
