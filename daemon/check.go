package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/iotd/iotd/bus"
	mqttup "github.com/iotd/iotd/bus/mqtt"
	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/core/linkstate"
)

// CheckConnect runs the daemon just long enough to learn the outcome of the
// first connection attempt: nil once the hub accepted the device, or an
// error saying why not (with a hint when the hub refused). Installers and
// `iotd run --check --connect` use it to fail fast with a non-zero exit,
// where the daemon itself would keep retrying. With several devices it
// checks them all at once and joins the errors, each naming its device.
func (d *Daemon) CheckConnect(ctx context.Context) error {
	if len(d.units) == 1 && !d.first().named {
		return d.first().CheckConnect(ctx)
	}
	errs := make([]error, len(d.units))
	var wg sync.WaitGroup
	for i, u := range d.units {
		wg.Go(func() {
			if err := u.CheckConnect(ctx); err != nil {
				errs[i] = fmt.Errorf("device %s: %w", u.name, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// CheckConnect runs the device just long enough to learn the outcome of
// its first connection attempt; see [Daemon.CheckConnect]. The device
// cannot run afterwards.
func (d *Unit) CheckConnect(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	states, err := d.dev.Bus().Subscribe(ctx, bus.TopicLinkState)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() {
		d.logStart("none (check only)")
		go d.logLinkStates(ctx)
		done <- d.dev.Run(ctx)
	}()
	defer func() { cancel(); <-done }()
	for {
		select {
		case err := <-done:
			done <- err // for the deferred wait
			if err == nil {
				err = errors.New("stopped before the first connection attempt finished")
			}
			return err
		case <-ctx.Done():
			return fmt.Errorf("no connection: %w", context.Cause(ctx))
		case m, ok := <-states:
			if !ok {
				return errors.New("bus closed")
			}
			m.Ack()
			st, err := bus.DecodeLinkState(m)
			if err != nil {
				continue
			}
			switch st.State {
			case linkstate.Connected:
				return nil
			case linkstate.Disconnected:
				if hint := d.refusalHint(st.Err); hint != "" {
					return fmt.Errorf("%s (%s)", st.Err, hint)
				}
				return errors.New(st.Err)
			}
		}
	}
}

// mqtt is the first contact's MQTT part: CONNECT and CONNACK, then the
// hub's clock against this one, over conn.
func (wk *walk) mqtt(ctx context.Context, conn net.Conn) error {
	d := wk.d
	creds, err := d.credentials(d.cfg.MQTT.UsernameExpiry)
	if err != nil {
		return wk.fail("mqtt", err.Error(), "")
	}
	rc, err := d.sendConnect(conn, creds)
	switch {
	case err != nil:
		return wk.closedBeforeConnack(err)
	case rc == packets.ErrRefusedBadUsernameOrPassword && !d.dev.Identity().IsCert() && d.cfg.MQTT.UsernameExpiry > 0:
		return wk.secretOrClock(ctx)
	case rc != packets.Accepted:
		return wk.fail("mqtt", refusedText(rc), d.refusal().connackHint(rc))
	}
	expires := "never expires"
	if !creds.ExpiresAt.IsZero() {
		expires = "expires " + creds.ExpiresAt.UTC().Format(time.RFC3339)
	}
	wk.ok("mqtt", "CONNACK accepted: client id %s, username %s", creds.ClientID, expires)
	wk.clock(conn)
	sendDisconnect(conn)
	return nil
}

// credentials signs CONNECT's credentials as the uplink does, with the
// username valid for expiry (0: forever).
func (d *Unit) credentials(expiry time.Duration) (core.Credentials, error) {
	return core.MQTTCredentials(d.dev.Identity(), core.CredentialOptions{
		Method: core.SignMethod(d.cfg.MQTT.SignMethod), Expiry: expiry, Now: d.dev.Clock().Now,
	})
}

func (d *Unit) connectTimeout() time.Duration {
	if t := d.cfg.MQTT.ConnectTimeout; t > 0 {
		return t
	}
	return mqttup.DefaultConnectTimeout
}

// sendConnect sends CONNECT with creds over conn and returns the CONNACK's
// return code.
func (d *Unit) sendConnect(conn net.Conn, creds core.Credentials) (byte, error) {
	keepAlive := d.cfg.MQTT.KeepAlive
	if keepAlive == 0 {
		keepAlive = mqttup.DefaultKeepAlive
	}
	cp := packets.NewControlPacket(packets.Connect).(*packets.ConnectPacket)
	cp.ProtocolName, cp.ProtocolVersion = "MQTT", 4
	cp.CleanSession = d.cfg.MQTT.CleanSession == nil || *d.cfg.MQTT.CleanSession
	cp.ClientIdentifier = creds.ClientID
	cp.Keepalive = uint16(keepAlive / time.Second)
	cp.UsernameFlag, cp.Username = true, creds.Username
	if creds.Password != "" {
		cp.PasswordFlag, cp.Password = true, []byte(creds.Password)
	}
	_ = conn.SetDeadline(time.Now().Add(d.connectTimeout()))
	defer conn.SetDeadline(time.Time{})
	if err := cp.Write(conn); err != nil {
		return 0, err
	}
	p, err := packets.ReadPacket(conn)
	if err != nil {
		return 0, err
	}
	ack, ok := p.(*packets.ConnackPacket)
	if !ok {
		return 0, fmt.Errorf("the server answered CONNECT with %s, not CONNACK", strings.Fields(p.String())[0])
	}
	return ack.ReturnCode, nil
}

func sendDisconnect(conn net.Conn) {
	_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
	_ = packets.NewControlPacket(packets.Disconnect).Write(conn)
}

// refusedText names a CONNACK refusal in MQTT 3.1.1's words (paho's own
// wording of 4 is misleading).
func refusedText(rc byte) string {
	name := map[byte]string{1: "unacceptable protocol version", 2: "identifier rejected", 3: "server unavailable",
		4: "bad username or password", 5: "not authorized"}[rc]
	if name == "" {
		name = "not an MQTT 3.1.1 code"
	}
	return fmt.Sprintf("the hub refused CONNECT with CONNACK %d (%s)", rc, name)
}

// closedBeforeConnack reports a connection that ended (or stayed silent)
// instead of answering CONNECT. For a certificate device under TLS 1.3 that
// is how the hub refuses its certificate: an alert or a reset on the first
// read.
func (wk *walk) closedBeforeConnack(err error) error {
	d := wk.d
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return wk.fail("mqtt", fmt.Sprintf("no CONNACK within %s", d.connectTimeout()),
			"is link.endpoint the hub's MQTT port? A server that is not an MQTT broker does not answer CONNECT")
	}
	msg := "the server closed the connection instead of answering CONNECT (" + err.Error() + ")"
	closed := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, driver.ErrReset) || errors.Is(err, driver.ErrHandshake) || strings.Contains(err.Error(), "remote error: tls:")
	if d.dev.Identity().IsCert() && closed {
		return wk.fail("mqtt", msg, d.refusal().certHint())
	}
	return wk.fail("mqtt", msg, "is link.endpoint the hub's MQTT port? A broker that closes without CONNACK did not take the CONNECT")
}

// secretOrClock tells the two causes of CONNACK 4 for a key device with an
// expiring username apart: it connects again with a username that never
// expires. Accepted: the secret is right and the username had expired on
// the hub's clock (measured over that connection). Refused again: the
// secret is wrong.
func (wk *walk) secretOrClock(ctx context.Context) error {
	d := wk.d
	r := d.refusal()
	first := refusedText(packets.ErrRefusedBadUsernameOrPassword)
	conn, err := wk.redial(ctx)
	if err != nil {
		return wk.fail("mqtt", first, r.connackHint(packets.ErrRefusedBadUsernameOrPassword))
	}
	defer conn.Close()
	creds, err := d.credentials(0)
	if err != nil {
		return wk.fail("mqtt", first, r.connackHint(packets.ErrRefusedBadUsernameOrPassword))
	}
	rc, err := d.sendConnect(conn, creds)
	switch {
	case err == nil && rc == packets.Accepted:
		msg := first + ": the signed username had expired on the hub's clock (one that never expires was accepted, so the device secret is right)"
		if offset, _, err := d.askTime(conn); err == nil {
			msg += fmt.Sprintf("; this clock is %s, and mqtt.username_expiry is %s", skewText(offset), d.cfg.MQTT.UsernameExpiry)
		}
		sendDisconnect(conn)
		return wk.fail("mqtt", msg, "set this host's clock (NTP: timedatectl set-ntp true), or raise mqtt.username_expiry above the difference (0 never expires): the daemon cannot correct its clock before it connects")
	case err == nil && rc == packets.ErrRefusedBadUsernameOrPassword:
		return wk.fail("mqtt", first+": a username that never expires was refused too, so it is not the clock",
			fmt.Sprintf("key_deviceinfo.deviceSecret in %s is wrong: copy the device secret from the console", d.cfg.DeviceInfoPath()))
	}
	return wk.fail("mqtt", first, r.connackHint(packets.ErrRefusedBadUsernameOrPassword))
}

// redial connects again the way the walk did, without printing.
func (wk *walk) redial(ctx context.Context) (net.Conn, error) {
	w, warn := wk.w, wk.warn
	wk.w = io.Discard
	defer func() { wk.w, wk.warn = w, warn }()
	return wk.connect(ctx)
}

// Clock skew thresholds. The daemon signs its first username with this
// clock (time sync corrects it only once connected), and TLS checks
// certificates against it: beyond clockWarning a certificate issued or
// expiring within that margin is judged wrongly, and timestamps in logs
// and reports mislead.
const clockWarning = 5 * time.Minute

// clock asks the hub's time over conn and prints this clock against it.
func (wk *walk) clock(conn net.Conn) {
	d := wk.d
	offset, rtt, err := d.askTime(conn)
	if err != nil {
		wk.warning("clock", "the hub's time is unknown: "+err.Error(),
			"the daemon's time sync uses the same request; if this persists, set this host's clock by NTP")
		return
	}
	expiry := d.cfg.MQTT.UsernameExpiry
	round := "under 0.1ms"
	if rtt >= 100*time.Microsecond {
		round = rtt.Round(100 * time.Microsecond).String()
	}
	text := fmt.Sprintf("this clock is %s (round trip %s)", skewText(offset), round)
	switch {
	case expiry > 0 && offset > expiry/2:
		wk.warning("clock", text+fmt.Sprintf(": signed usernames are valid for %s (mqtt.username_expiry), so a clock this far behind leaves little margin before the hub refuses them", expiry),
			"set this host's clock (NTP: timedatectl set-ntp true), or raise mqtt.username_expiry (0 never expires)")
	case offset.Abs() >= clockWarning:
		wk.warning("clock", text+fmt.Sprintf(": more than %s off; TLS checks certificates against this clock and it stamps logs and reports", clockWarning),
			"set this host's clock (NTP: timedatectl set-ntp true, or an RTC); iotd corrects only its own use of it, by time sync")
	default:
		wk.ok("clock", "%s", text)
	}
}

// skewText says how this clock stands against the hub's, given offset =
// hub minus local.
func skewText(offset time.Duration) string {
	// The measurement is good to about the round trip: no more digits.
	abs := offset.Abs()
	switch {
	case abs >= time.Minute:
		abs = abs.Round(time.Second)
	case abs >= time.Second:
		abs = abs.Round(10 * time.Millisecond)
	default:
		abs = abs.Round(time.Millisecond)
	}
	switch {
	case abs == 0:
		return "in step with the hub's"
	case offset > 0:
		return abs.String() + " behind the hub's"
	}
	return abs.String() + " ahead of the hub's"
}

// timeRequest is the hub time service's only request (PROTOCOL.md §2.4),
// the one features/timesync sends.
const timeRequest = `{"type": "get", "resource": ["time"]}`

// timeTimeout bounds the time request, subscription included (the
// timesync feature's default).
const timeTimeout = 10 * time.Second

// askTime subscribes to the device's $sys result topic, asks the hub's
// time and returns the offset of the hub's clock from this one (positive:
// this clock is behind) and the round trip.
func (d *Unit) askTime(conn net.Conn) (offset, rtt time.Duration, err error) {
	pid, dn := d.dev.Identity().ProductID, d.dev.Identity().DeviceName
	result := "$sys/operation/result/" + pid + "/" + dn
	_ = conn.SetDeadline(time.Now().Add(timeTimeout))
	defer conn.SetDeadline(time.Time{})
	sub := packets.NewControlPacket(packets.Subscribe).(*packets.SubscribePacket)
	sub.MessageID, sub.Topics, sub.Qoss = 1, []string{result}, []byte{0}
	if err := sub.Write(conn); err != nil {
		return 0, 0, err
	}
	for {
		p, err := packets.ReadPacket(conn)
		if err != nil {
			return 0, 0, fmt.Errorf("no SUBACK for %s: %w", result, err)
		}
		if ack, ok := p.(*packets.SubackPacket); ok && ack.MessageID == 1 {
			if len(ack.ReturnCodes) != 1 || ack.ReturnCodes[0] > 2 {
				return 0, 0, fmt.Errorf("the hub refused the subscription to %s", result)
			}
			break
		}
	}
	pub := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
	pub.TopicName, pub.Payload = "$sys/operation/"+pid+"/"+dn, []byte(timeRequest)
	t0 := time.Now()
	if err := pub.Write(conn); err != nil {
		return 0, 0, err
	}
	for {
		p, err := packets.ReadPacket(conn)
		if err != nil {
			return 0, 0, fmt.Errorf("no reply on %s within %s: %w", result, timeTimeout, err)
		}
		m, ok := p.(*packets.PublishPacket)
		if !ok || m.TopicName != result {
			continue
		}
		t3 := time.Now()
		sec, recvMs, sendMs, err := parseHubTime(m.Payload)
		if err != nil {
			return 0, 0, err
		}
		rtt = t3.Sub(t0)
		if recvMs > 0 && sendMs >= recvMs {
			t1, t2 := time.UnixMilli(recvMs), time.UnixMilli(sendMs)
			return (t1.Sub(t0) + t2.Sub(t3)) / 2, max(rtt-t2.Sub(t1), 0), nil
		}
		return time.Unix(sec, 0).Add(rtt / 2).Sub(t3), rtt, nil
	}
}

// parseHubTime reads a time reply: "time" in seconds and, from hubs that
// send them, "ntptime1" and "ntptime2", the receive and send times in
// milliseconds. The C SDK reads every value as a string, so numbers may
// come quoted.
func parseHubTime(payload []byte) (sec, recvMs, sendMs int64, err error) {
	var raw map[string]any
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return 0, 0, 0, fmt.Errorf("the time reply is not a JSON object: %w", err)
	}
	num := func(key string) int64 {
		var s string
		switch v := raw[key].(type) {
		case json.Number:
			s = v.String()
		case string:
			s = v
		}
		n, _ := strconv.ParseInt(s, 10, 64)
		return n
	}
	if sec = num("time"); sec <= 0 {
		return 0, 0, 0, fmt.Errorf("the time reply has no time: %.100s", payload)
	}
	return sec, num("ntptime1"), num("ntptime2"), nil
}
