package attencent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/core/linkstate"
	"github.com/iotd/iotd/drivers/at"
)

// keepUp brings the module's session up and, whenever it ends, waits the
// backoff and brings it up again, forever, until ctx ends. The module's
// own reconnect (AT+TCMQTTCONN's <reconnect> 1) handles a lost connection
// first; the uplink redoes the session only when the module gave up
// (-106), rebooted, lost Wi-Fi, failed, or did not reconnect in time.
func (u *Uplink) keepUp(ctx context.Context) {
	attempt := 0
	defer u.setState(linkstate.State{State: linkstate.Stopped})
	for ctx.Err() == nil {
		u.setState(linkstate.State{State: linkstate.Connecting, Attempt: attempt})
		start := time.Now()
		connected, err := u.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("attencent: session ended")
		}
		if connected && time.Since(start) >= u.backoff.StableAfter() {
			attempt = 0
		}
		delay := u.backoff.Delay(attempt)
		attempt++
		u.failed(err, attempt, delay)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// reconnectGrace is how long the uplink lets the module reconnect by
// itself before it takes over: the firmware gives up (-106) once its
// doubling wait would pass 60 s, and says so; a module that says nothing
// for this long is not trusted to.
const reconnectGrace = 3 * time.Minute

// session runs one opening of the module; connected reports whether the
// module's client connected.
func (u *Uplink) session(ctx context.Context) (connected bool, err error) {
	m, err := openModule(u.cfg, append(append(u.rcv.urcs(), u.eventURCs()...), u.otaURCs()...))
	if err != nil {
		return false, err
	}
	defer m.close()
	defer func() { u.ota.sessionEnded(err) }()
	info, err := m.prepare(ctx)
	if info != (ModuleInfo{}) {
		u.setInfo(info)
	}
	if err != nil {
		return false, err
	}
	u.ev.take() // the DISCON of our own DISCONN, a boot banner we came after
	if err := m.connect(ctx); err != nil {
		return false, err
	}
	u.log.Info("attencent: connected through the module", "port", u.cfg.Port, "firmware", info.Firmware)
	u.setState(linkstate.State{State: linkstate.Connected})
	s := &sess{u: u, m: m, made: make(map[string]byte)}
	if err := s.syncSubs(ctx); err != nil {
		return true, err
	}
	return true, s.serve(ctx)
}

// sess is one connected session: the module and what it holds.
type sess struct {
	u *Uplink
	m *module
	// made holds the subscriptions the module's client has; it restores
	// them by itself after its own reconnect.
	made  map[string]byte
	grace <-chan time.Time // set while the module reconnects by itself
	ota   sessOTA
}

func (s *sess) serve(ctx context.Context) error {
	u := s.u
	for {
		select {
		case <-ctx.Done():
			s.m.disconnect()
			return nil
		case <-s.m.eng.Done():
			return fmt.Errorf("attencent: the port %s failed: %w", u.cfg.Port, s.m.eng.Err())
		case <-s.grace:
			return fmt.Errorf("attencent: the module did not reconnect within %s", reconnectGrace)
		case <-s.ota.limit:
			s.downloadTimedOut()
		case <-u.ev.wake:
			for _, e := range u.ev.take() {
				if err := s.onEvent(ctx, e); err != nil {
					return err
				}
			}
		case <-u.wake:
		}
		if err := s.step(ctx); err != nil {
			return err
		}
	}
}

// Why a session ends, by the module's word.
var (
	errReboot  = errors.New("attencent: the module rebooted (boot banner \"ready\"); bringing the session up again")
	errWiFi    = errors.New("attencent: the module lost Wi-Fi (WIFI DISCONNECT); joining again")
	errGaveUp  = errors.New("attencent: the module gave up reconnecting (+TCMQTTDISCON,-106)")
	errNotConn = errors.New("attencent: the module's client is not connected (+CME ERROR:208)")
)

func (s *sess) onEvent(ctx context.Context, e event) error {
	u := s.u
	switch e.kind {
	case evReboot:
		return errReboot
	case evWiFiLost:
		return errWiFi
	case evDiscon:
		switch e.code {
		case 2: // ours: AT+TCMQTTDISCONN
			return nil
		case -106:
			return errGaveUp
		}
		s.down(fmt.Sprintf("the module lost the connection (+TCMQTTDISCON,%d); it reconnects by itself", e.code))
	case evReconnecting:
		u.setState(linkstate.State{State: linkstate.Connecting})
	case evOTA:
		return s.onOTA(ctx, e.ota)
	case evReconnected:
		s.grace = nil
		u.log.Info("attencent: the module reconnected")
		u.setState(linkstate.State{State: linkstate.Connected})
		return s.syncSubs(ctx)
	}
	return nil
}

// down notes that the module's client is not connected and starts the
// wait for its own reconnect.
func (s *sess) down(why string) {
	if s.grace == nil {
		s.grace = time.After(reconnectGrace)
	}
	s.u.mu.Lock()
	s.u.lastErr = why
	s.u.mu.Unlock()
	s.u.setState(linkstate.State{State: linkstate.Disconnected, Err: why})
}

// syncSubs makes the module hold the uplink's subscriptions: those made
// while it was down, or all of them in a new session.
func (s *sess) syncSubs(ctx context.Context) error {
	u := s.u
	u.mu.Lock()
	want := make(map[string]byte, len(u.subs))
	for f, q := range u.subs {
		want[f] = q
	}
	u.mu.Unlock()
	for f := range s.made {
		if _, ok := want[f]; !ok {
			if err := s.m.tc(ctx, "AT+TCMQTTUNSUB="+espQuote(f), "+TCMQTTUNSUB"); err != nil {
				u.log.Debug("attencent: unsubscribe", "filter", f, "err", err)
			}
			delete(s.made, f)
		}
	}
	for f, q := range want {
		if have, ok := s.made[f]; ok && have == q {
			continue
		}
		if err := s.subscribe(ctx, f, q); err != nil {
			if refusal(err) == nil {
				return err
			}
			u.log.Warn("attencent: subscription dropped", "filter", f, "err", refusal(err))
		}
	}
	return nil
}

// subscribe makes one subscription; a refusal drops it from the uplink's.
func (s *sess) subscribe(ctx context.Context, f string, q byte) error {
	err := s.m.tc(ctx, fmt.Sprintf("AT+TCMQTTSUB=%s,%d", espQuote(f), q), "+TCMQTTSUB")
	if err == nil {
		s.made[f] = q
		return nil
	}
	if refusal(err) != nil {
		s.u.mu.Lock()
		if s.u.subs[f] == q {
			delete(s.u.subs, f)
		}
		s.u.mu.Unlock()
	}
	return err
}

// refusal returns the user-facing reason when err is a subscription the
// module or the hub refused for good, else nil.
func refusal(err error) error {
	var fe *FailError
	switch {
	case errors.As(err, &fe) && fe.Code == -108:
		return fmt.Errorf("attencent: the hub refused the subscription (SUBACK 0x80, QCLOUD_ERR_MQTT_SUB -108): the device may not subscribe to it; check the topic's permissions: %w", err)
	case errors.As(err, &fe) && fe.Code == -107:
		return fmt.Errorf("attencent: the module holds 10 subscriptions, the firmware's limit (QCLOUD_ERR_MQTT_MAX_SUBSCRIPTIONS -107); unsubscribe another first: %w", err)
	case cme(err) == cmeBadParam:
		return fmt.Errorf("attencent: the module refused the filter (+CME ERROR:204): %w", err)
	}
	return nil
}

// maxAttempts is how often a message is sent before it is refused: a QoS 1
// publish the hub does not acknowledge usually is one it refused, and the
// hub closes the connection of a device that publishes where it may not.
const maxAttempts = 3

// step runs the oldest queued request, if the module is connected.
func (s *sess) step(ctx context.Context) error {
	u := s.u
	if err := s.otaStep(ctx); err != nil {
		return err
	}
	u.mu.Lock()
	if !u.up || len(u.ops) == 0 || s.held(u.ops[0]) {
		u.mu.Unlock()
		return nil
	}
	o := u.ops[0]
	u.ops = u.ops[1:]
	if o.kind == opPublish {
		u.pubs--
	}
	more := len(u.ops) > 0
	u.mu.Unlock()
	if more {
		u.poke()
	}
	switch o.kind {
	case opSubscribe:
		return s.runSubscribe(ctx, o)
	case opUnsubscribe:
		delete(s.made, o.topic)
		if err := s.m.tc(ctx, "AT+TCMQTTUNSUB="+espQuote(o.topic), "+TCMQTTUNSUB"); err != nil {
			u.log.Debug("attencent: unsubscribe not acknowledged", "filter", o.topic, "err", err)
		}
		u.reply(o.req)
		return nil
	}
	return s.runPublish(ctx, o)
}

func (s *sess) runSubscribe(ctx context.Context, o *op) error {
	u := s.u
	if have, ok := s.made[o.topic]; ok && have == o.qos {
		u.reply(o.req)
		return nil
	}
	err := s.subscribe(ctx, o.topic, o.qos)
	if r := refusal(err); r != nil {
		u.replyErr(o.req, r)
		return nil
	}
	// Made, or kept for the next connection (as when subscribing while
	// disconnected).
	u.reply(o.req)
	return s.trouble(ctx, err)
}

func (s *sess) runPublish(ctx context.Context, o *op) error {
	u := s.u
	p, err := publishCmd(o.topic, o.qos, o.payload)
	if err == nil {
		err = s.m.publish(ctx, p)
	}
	if err == nil {
		u.answer(o, bus.Acknowledged, nil)
		return nil
	}
	if ctx.Err() != nil {
		s.requeue(o)
		return nil
	}
	if !retryable(err) {
		u.answer(o, bus.Refused, err)
		return nil
	}
	o.attempts++
	if o.attempts >= maxAttempts {
		u.answer(o, bus.Refused, fmt.Errorf("attencent: not acknowledged after %d attempts; the hub closes the connection of a device that publishes where it may not: check the topic's permissions: %w", o.attempts, err))
		return s.trouble(ctx, err)
	}
	s.requeue(o)
	return s.trouble(ctx, err)
}

// retryable: the message may go out on a later try.
func retryable(err error) bool {
	var fe *FailError
	if errors.As(err, &fe) {
		return fe.Code == 202 || fe.Code == -103
	}
	return cme(err) == cmeState || cme(err) == cmeDealing || errors.Is(err, at.ErrTimeout) || errors.Is(err, at.ErrClosed)
}

// trouble decides what a failed command says about the session: the
// client is down (wait for the module's reconnect), the module is not
// answering (redo the session), or nothing.
func (s *sess) trouble(ctx context.Context, err error) error {
	var fe *FailError
	switch {
	case err == nil || ctx.Err() != nil:
		return nil
	case errors.As(err, &fe) && fe.Code == -103:
		s.down("the module's client is reconnecting (-103)")
		return nil
	case cme(err) == cmeDealing:
		s.busy() // the module downloads: what it refused waits (held)
		return nil
	case cme(err) == cmeState:
		return errNotConn
	case errors.Is(err, at.ErrTimeout), errors.Is(err, at.ErrClosed):
		return err
	}
	return nil
}

// requeue puts o back at the head of the queue.
func (s *sess) requeue(o *op) {
	u := s.u
	u.mu.Lock()
	u.ops = append([]*op{o}, u.ops...)
	if o.kind == opPublish {
		u.pubs++
	}
	u.mu.Unlock()
	u.poke()
}
