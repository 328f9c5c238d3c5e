package atsim

import (
	"bytes"
	"fmt"
	"time"

	"github.com/iotd/iotd/core"
)

// The TC MQTT commands (qcloud_at_cmd.c at_mqtt_*): state checks first,
// then the parameters, then "OK" and the result line once the network has
// answered, with the module busy meanwhile.

func (d *tencent) connSet(c *command) reply {
	switch {
	case d.running():
		return tcCME(tcErrState)
	case d.downloading():
		return tcCME(tcErrDealing)
	}
	p, fail := parseConn(c.args)
	if fail != tcPass {
		return fail.reply()
	}
	if !d.dev.set {
		return tcReply("OK", fmt.Sprintf("+TCMQTTCONN:FAIL,%d", tcErrFlash))
	}
	s := d.newSessionLocked(p)
	r := tcReply("OK")
	r.after = func() {
		d.busy = true
		d.m.goAsync(s.run)
	}
	return r
}

// disconn is AT+TCMQTTDISCONN: the task ends with +TCMQTTDISCON,2
// (QCLOUD_RET_MQTT_MANUALLY_DISCONNECTED), then ESP-AT's OK; an OTA task
// ends with it. The broker gets a DISCONNECT.
func (d *tencent) disconn() reply {
	m := d.m
	s := d.sess
	if s == nil {
		return tcCME(tcErrState)
	}
	l := s.link
	s.link = nil
	s.endLocked()
	if l != nil {
		l.dead, l.graceful = true, true
		d.busy = true
		alive := m.unlocked(func() { l.client.Disconnect(100) })
		d.busy = false
		if !alive {
			return reply{}
		}
	}
	return tcOK(fmt.Sprintf("+TCMQTTDISCON,%d", core.CodeMQTTManuallyDisconnected))
}

func (d *tencent) pub(c *command) reply {
	if !d.connected() {
		return tcCME(tcErrState)
	}
	topic, qos, payload, fail := parsePub(c.args)
	if fail != tcPass {
		return fail.reply()
	}
	return d.publish(tcReply("OK"), "+TCMQTTPUB", topic, qos, []byte(payload))
}

// publish adds to r (the command's "OK") the publish and its result line.
func (d *tencent) publish(r reply, name, topic string, qos byte, payload []byte) reply {
	s := d.sess
	r.after = func() { d.async(func() string { return s.publish(name, topic, qos, payload) }) }
	return r
}

// publ is AT+TCMQTTPUBL (clean: the escape workaround) and
// AT+TCMQTTPUBRAW: "OK", the prompt ">" CR LF, then the payload.
func (d *tencent) publ(c *command, clean bool) reply {
	name := "+TCMQTTPUBRAW"
	if clean {
		name = "+TCMQTTPUBL"
	}
	switch {
	case !d.connected():
		return tcCME(tcErrState)
	case d.downloading():
		return tcCME(tcErrDealing)
	}
	topic, qos, n, fail := parsePubL(c.args)
	if fail != tcPass {
		return fail.reply()
	}
	r := tcReply("OK")
	r.prompt = ">\r\n"
	r.data = d.payloadMode(n, func(p []byte) reply {
		switch {
		case d.sess == nil: // gone while the payload came (do_mqtt_pub_msg)
			return tcReply(fmt.Sprintf("%s:FAIL,%d", name, tcErrState))
		case d.sess.link == nil:
			return tcReply(fmt.Sprintf("%s:FAIL,%d", name, core.CodeMQTTNoConn))
		}
		if clean {
			cleanEscapes(p)
		}
		return d.publish(reply{}, name, topic, qos, p)
	})
	return r
}

// Waits of read_publ_payload: 20 s for the payload, 1 s more for the CR LF
// that must follow it.
const (
	tcPayloadWait    = 20 * time.Second
	tcTerminatorWait = time.Second
)

// payloadMode takes a PUBL payload as read_publ_payload does: n bytes,
// then CR LF. "+++" CR LF in the data, another terminator, or the time
// running out ends it with +CME ERROR:204 and nothing is published. It
// takes a byte at a time so that it sees "+++" as it comes.
func (d *tencent) payloadMode(n int, done func([]byte) reply) *dataMode {
	m := d.m
	buf := make([]byte, 0, n+2)
	var cur *dataMode
	var timer *time.Timer
	var step func([]byte) reply
	next := func() *dataMode {
		cur = &dataMode{need: 1, done: step}
		return cur
	}
	step = func(b []byte) reply {
		buf = append(buf, b...)
		switch {
		case len(buf) <= n && bytes.HasSuffix(buf, []byte("+++\r\n")):
		case len(buf) < n+2:
			if len(buf) == n {
				timer.Reset(tcTerminatorWait)
			}
			m.data = next()
			return reply{}
		case buf[n] == '\r' && buf[n+1] == '\n':
			timer.Stop()
			return done(buf[:n])
		}
		timer.Stop()
		return tcCME(tcErrParam)
	}
	timer = time.AfterFunc(tcPayloadWait, func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.closed || m.data == nil || m.data != cur {
			return
		}
		m.data = nil
		m.respondLocked(tcCME(tcErrParam))
	})
	return next()
}

// publish sends one message: the result is OK once written for QoS 0 and
// once PUBACKed for QoS 1; a QoS 1 publish not acknowledged within
// <cmdtimeout> fails with 202 at that deadline (do_mqtt_pub_msg), also
// when the broker dropped the connection meanwhile, as the hub does for a
// refused publish.
func (s *tcSession) publish(name, topic string, qos byte, payload []byte) string {
	m := s.d.m
	m.mu.Lock()
	l := s.link
	m.mu.Unlock()
	if l == nil {
		return fmt.Sprintf("%s:FAIL,%d", name, core.CodeMQTTNoConn)
	}
	deadline := time.Now().Add(s.params.timeout)
	tok := l.client.Publish(topic, qos, false, payload)
	if waitToken(s.ctx, tok, s.params.timeout) {
		return name + ":OK"
	}
	if qos == 0 {
		return fmt.Sprintf("%s:FAIL,%d", name, core.CodeMQTTNoConn)
	}
	sleepCtx(s.ctx.Done(), time.Until(deadline))
	return fmt.Sprintf("%s:FAIL,%d", name, tcErrTimeout)
}

func (d *tencent) sub(c *command) reply {
	switch {
	case !d.connected():
		return tcCME(tcErrState)
	case d.downloading():
		return tcCME(tcErrDealing)
	}
	topic, qos, fail := parseSub(c.args)
	if fail != tcPass {
		return fail.reply()
	}
	s := d.sess
	r := tcReply("OK")
	r.after = func() {
		d.async(func() string { return "+TCMQTTSUB:" + s.subscribe(tcSub{topic: topic, qos: qos}) })
	}
	return r
}

// subscribe subscribes and waits for the SUBACK: OK, FAIL,-108 for a
// refusal (SUBACK 0x80, MQTT_EVENT_SUBCRIBE_NACK), FAIL,202 when none
// comes in <cmdtimeout>, FAIL,-107 when the SDK's 10 handlers are taken
// (QCLOUD_ERR_MQTT_MAX_SUBSCRIPTIONS; that the firmware reports it at once
// is an assumption).
func (s *tcSession) subscribe(sub tcSub) string {
	m := s.d.m
	m.mu.Lock()
	l, full := s.link, len(s.subs) >= tcMaxSubs && s.find(sub.topic) < 0
	m.mu.Unlock()
	switch {
	case full:
		return fmt.Sprintf("FAIL,%d", core.CodeMQTTMaxSubscriptions)
	case l == nil:
		return fmt.Sprintf("FAIL,%d", core.CodeMQTTNoConn)
	}
	tok := l.client.Subscribe(sub.topic, sub.qos, nil)
	if !waitToken(s.ctx, tok, s.params.timeout) {
		return fmt.Sprintf("FAIL,%d", tcErrTimeout)
	}
	if tok.(interface{ Result() map[string]byte }).Result()[sub.topic] >= 0x80 {
		return fmt.Sprintf("FAIL,%d", core.CodeMQTTSub)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if i := s.find(sub.topic); i >= 0 {
		s.subs[i] = sub
	} else {
		s.subs = append(s.subs, sub)
	}
	return "OK"
}

func (s *tcSession) find(topic string) int {
	for i, sub := range s.subs {
		if sub.topic == topic {
			return i
		}
	}
	return -1
}

// subRead lists the subscriptions (get_mqtt_sub_list), the OTA service's
// included, then OK; nothing when not connected.
func (d *tencent) subRead() reply {
	var lines []string
	if d.sess != nil {
		for _, sub := range d.sess.subs {
			lines = append(lines, fmt.Sprintf(`+TCMQTTSUB:"%s",%d`, sub.topic, sub.qos))
		}
	}
	return tcOK(lines...)
}

func (d *tencent) unsub(c *command) reply {
	switch {
	case !d.connected():
		return tcCME(tcErrState)
	case d.downloading():
		return tcCME(tcErrDealing)
	}
	topic, fail := parseUnsub(c.args)
	if fail != tcPass {
		return fail.reply()
	}
	s := d.sess
	r := tcReply("OK")
	r.after = func() { d.async(func() string { return "+TCMQTTUNSUB:" + s.unsubscribe(topic) }) }
	return r
}

// unsubscribe waits for the UNSUBACK: OK, or FAIL,202 when none comes in
// <cmdtimeout>; a topic not subscribed fails with -121
// (QCLOUD_ERR_MQTT_UNSUB_FAIL) without asking the broker.
func (s *tcSession) unsubscribe(topic string) string {
	m := s.d.m
	m.mu.Lock()
	l, known := s.link, s.find(topic) >= 0
	m.mu.Unlock()
	switch {
	case !known:
		return fmt.Sprintf("FAIL,%d", core.CodeMQTTUnsubFail)
	case l == nil:
		return fmt.Sprintf("FAIL,%d", core.CodeMQTTNoConn)
	}
	if !waitToken(s.ctx, l.client.Unsubscribe(topic), s.params.timeout) {
		return fmt.Sprintf("FAIL,%d", tcErrTimeout)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if i := s.find(topic); i >= 0 {
		s.subs = append(s.subs[:i], s.subs[i+1:]...)
	}
	return "OK"
}
