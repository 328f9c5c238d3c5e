package atsim

// The tencent personality is an ESP8266 running Tencent's customised AT
// firmware (QCloud_IoT_AT_ESP8266): ESP-AT plus the "TC" command set, with
// the C SDK's MQTT client running on the module (PROTOCOL.md §6.4,
// AT-MODEMS.md §2.1). The command set as simulated, each behaviour with its
// source, is in testdata/tencent.md; the comments here name the source
// where the code follows it.

import (
	"crypto/x509"
	"fmt"
	"net"
	"time"
)

// DialectTencent is the tencent personality's Config.Dialect.
const DialectTencent = "tencent"

// TencentConfig configures the cloud side of the tencent personality.
type TencentConfig struct {
	// Broker is the "host:port" the module's MQTT client connects to in
	// place of the hub ({productId}.iotcloud.tencentdevices.com:8883, or
	// the AT+TCMQTTSRV host on 8883). Its host is resolved like a socket's
	// (Config.Hosts, then Config.Resolve) and is the name the broker's
	// certificate is checked against. Tests point it at hubsim's TLS port.
	Broker string
	// RootCAs verify the broker's certificate and the OTA download
	// server's. nil means the hub's own CAs for MQTT (core/hub.HubCAs) and
	// the system roots plus the SDKs' public CAs for OTA downloads.
	RootCAs *x509.CertPool
}

func (c TencentConfig) validate() error {
	if c.Broker == "" {
		return nil
	}
	if _, port, err := net.SplitHostPort(c.Broker); err != nil || port == "" {
		return fmt.Errorf("atsim: config: tencent broker %q: want host:port, e.g. 127.0.0.1:8883", c.Broker)
	}
	return nil
}

// Limits of the firmware: qcloud_at_cmd.c (the TC command handlers of the
// Tencent AT firmware for ESP chips) and the esp-at document "腾讯云 IoT AT
// 命令集" (docs/zh_CN/Customized_AT_Commands_and_Firmware/Tencent_Cloud_IoT_AT).
const (
	tcMaxLine       = 256  // esp-at doc, "ESP-AT 命令说明" 1: a longer line is an error
	tcMaxTopic      = 128  // MAX_SIZE_OF_CLOUD_TOPIC
	tcMaxProductID  = 10   // doc TCDEVINFOSET
	tcMaxDeviceName = 48   // doc TCDEVINFOSET
	tcMaxSecret     = 44   // doc TCDEVINFOSET (the SDK's own buffer is 64)
	tcMaxRegion     = 24   // doc TCDEVINFOSET
	tcMaxPubL       = 2048 // MAX_SIZE_OF_PUBL_PAYLOAD, doc TCMQTTPUBL
	tcMaxSubs       = 10   // doc TCMQTTSUB; the SDK's MAX_MESSAGE_HANDLERS
	tcMaxVersion    = 32   // doc TCOTASET
	tcMaxReadFW     = 4096 // SPI_FLASH_SEC_SIZE, the TCREADFWDATA limit
	tcMaxHost       = 63   // HOST_STR_LENGTH - 1, TCMQTTSRV
	tcFWMaxSize     = 716800
	tcDefaultRegion = "ap-guangzhou" // doc TCDEVINFOSET
)

// +CME ERROR codes of the firmware (eCmd_Err_Code in qcloud_at_cmd.h; the
// doc's "CME ERROR 列表扩展").
const (
	tcErrDealing  = 200 // previous command (an OTA download) not finished
	tcErrTimeout  = 202
	tcErrParam    = 204
	tcErrFirmware = 205
	tcErrFlash    = 207
	tcErrState    = 208
	tcErrExec     = 209
	tcErrHTTP     = 213
)

// tcLine is a line as the firmware's at_cmd_printf writes it: the text
// and CR LF, without the CR LF before it that ESP-AT's own results have.
func tcLine(s string) unit { return unit(s + "\r\n") }

// tcReply is a reply of lines written by the TC handler itself, with no
// final result from ESP-AT (the handlers' ESP_AT_RESULT_CODE_PROCESS_DONE).
func tcReply(lines ...string) reply {
	var r reply
	for _, l := range lines {
		r.units = append(r.units, tcLine(l))
	}
	return r
}

// tcOK is a TC handler's lines followed by ESP-AT's OK.
func tcOK(lines ...string) reply {
	r := tcReply(lines...)
	r.final = "OK"
	return r
}

func tcCME(code int) reply { return tcReply(fmt.Sprintf("+CME ERROR:%d", code)) }

// tcDevInfo is what AT+TCDEVINFOSET stores in the module's flash.
type tcDevInfo struct {
	tls             int
	pid, dn, secret string
	region          string
	set             bool
}

// bcc is the XOR of the secret's bytes, which the query shows instead of
// the secret (doc, 符号说明 5).
func bcc(s string) int {
	r := 0
	for i := 0; i < len(s); i++ {
		r ^= int(s[i])
	}
	return r
}

// tencent embeds the ESP-AT personality: the firmware is ESP-AT with the
// TC commands registered on top (qcloud_iot_at_cmd_regist).
type tencent struct {
	*esp
	cmds map[string]tcCmd

	// kept in flash: they survive a reboot
	dev       tcDevInfo
	savedWiFi string // the AP joined last; ESP-AT rejoins it at boot
	fw        tcFirmware

	// RAM
	srv      string      // AT+TCMQTTSRV host
	params   tcParams    // AT+TCMQTTCONN? (g_init_params)
	sess     *tcSession  // the MQTT client task; nil when not running
	ota      *tcOTA      // the OTA task; nil when not running
	otaFlags tcOTAFlags  // AT+TCOTASET?
	busy     bool        // a TC command waits for the network: "busy p..."
	fwRead   tcFWReading // AT+TCREADFWDATA's position
}

func newTencent(m *Modem) dialect {
	d := &tencent{esp: &esp{m: m}}
	d.cmds = d.commands()
	return d
}

func (d *tencent) reset() {
	d.esp.reset()
	if d.sess != nil {
		// power cut: the broker sees the TCP connection drop, no
		// DISCONNECT; the task's goroutine closes it
		d.sess.endLocked()
	}
	d.srv, d.params, d.busy = "", tcDefaultParams, false
	d.otaFlags, d.fwRead = tcOTAFlags{}, tcFWReading{}
	d.wifi = d.savedWiFi
}

func (d *tencent) banner() []unit {
	us := d.esp.banner()
	if d.wifi != "" {
		us = append(us, line("WIFI CONNECTED"), line("WIFI GOT IP"))
	}
	return us
}

// bearerLost drops Wi-Fi; the MQTT connection goes with it (its
// +TCMQTTDISCON follows when the client notices).
func (d *tencent) bearerLost() {
	// the AP stays saved: the firmware does not rejoin by itself after a
	// Wi-Fi loss (the ESP8266 firmware's README, 断线重连 1), a reboot does
	d.esp.bearerLost()
	if d.sess != nil {
		d.sess.dropLinkLocked()
	}
}

func (d *tencent) handler(name string) (handler, bool) {
	m := d.m
	if d.busy {
		// ESP-AT answers any line while a command runs (doc, ESP-AT 命令说明 4)
		return func(*command) reply { return reply{units: []unit{line("busy p...")}} }, true
	}
	if n := len(m.currentLineLocked()); n > tcMaxLine {
		return func(*command) reply { return errorReply() }, true
	}
	if c, found := d.cmds[name]; found {
		return c.run, true
	}
	switch name {
	case "+CWJAP", "+CWJAP_CUR", "+CWJAP_DEF":
		h, _ := d.esp.handler(name)
		return func(c *command) reply {
			r := h(c)
			if c.kind == kindSet && d.wifi != "" {
				d.savedWiFi = d.wifi
			}
			return r
		}, true
	case "+RESTORE":
		h, _ := d.esp.handler(name)
		return func(c *command) reply {
			d.savedWiFi = ""
			return h(c)
		}, true
	case "+CWQAP":
		h, _ := d.esp.handler(name)
		return func(c *command) reply {
			if d.sess != nil {
				d.sess.dropLinkLocked() // the network goes, the connection with it
			}
			return h(c)
		}, true
	}
	if h, found := d.esp.handler(name); found {
		return h, true
	}
	if name == "" || name == "E" {
		return nil, false // AT, ATE0/ATE1: the common handlers
	}
	// ESP-AT knows no 27.007 command (+CSQ, +CGMR, ATI...)
	return func(*command) reply { return errorReply() }, true
}

// currentLineLocked is the command line being executed, as received.
func (m *Modem) currentLineLocked() string {
	if len(m.cmdLog) == 0 {
		return ""
	}
	return m.cmdLog[len(m.cmdLog)-1]
}

// tcCmd is one TC command's forms, as the firmware registers them
// (at_qcloud_cmd[] in qcloud_at_cmd.c): a form it does not register
// answers ESP-AT's ERROR.
type tcCmd struct {
	test, read, exec func() reply
	set              func(c *command) reply
}

func (t tcCmd) run(c *command) reply {
	var f func() reply
	switch c.kind {
	case kindTest:
		f = t.test
	case kindRead:
		f = t.read
	case kindExec:
		f = t.exec
	case kindSet:
		if t.set != nil {
			return t.set(c)
		}
	}
	if f == nil {
		return errorReply()
	}
	return f()
}

func constReply(lines ...string) func() reply { return func() reply { return tcOK(lines...) } }

func (d *tencent) commands() map[string]tcCmd {
	return map[string]tcCmd{
		"+TCMODULE": {exec: d.module},
		"+TCVER": {exec: constReply("Tencent Cloud IoT AT  version: "+tcATVersion,
			"Tencent Cloud IoT SDK version: "+tcSDKVersion, "Firmware compile time: "+tcCompiled,
			"Tencent Technology Co. Ltd.")},
		"+TCRESTORE": {test: constReply("+TCRESTORE: CLEAR CONFIG AND RESET"), exec: d.restore},
		"+TCMQTTSRV": {test: constReply(`+TCMQTTSRV:"MQTT SERVER IP"`), read: d.srvRead, set: d.srvSet},
		"+TCDEVINFOSET": {test: constReply(`+TCDEVINFOSET:"TLS_MODE(1)","PRODUCT_ID","DEVICE_NAME","DEVICE_SECRET_BCC","PRODUCT_REGION"`),
			read: d.devInfoRead, set: d.devInfoSet},
		"+TCMQTTCONN": {test: constReply(fmt.Sprintf("+TCMQTTCONN:<TLSMODE_SELECTED>,<CMDTIMEOUT_VALUE(%d-%dms)>,"+
			"<KEEPALIVE>(60-690s),<CLEAN_SESSION>(0/1),<RECONNECT>(0/1)", tcMinCmdTimeout, tcMaxCmdTimeout)),
			read: d.connRead, set: d.connSet},
		"+TCMQTTDISCONN": {test: constReply(), exec: d.disconn},
		"+TCMQTTPUB": {test: constReply(fmt.Sprintf(`+TCMQTTPUB: "TOPIC_NAME(maxlen %d)", "QOS(0/1)","PAYLOAD"`, tcMaxTopic)),
			set: d.pub},
		"+TCMQTTPUBL":   {test: d.publTest("+TCMQTTPUBL"), set: func(c *command) reply { return d.publ(c, true) }},
		"+TCMQTTPUBRAW": {test: d.publTest("+TCMQTTPUBRAW"), set: func(c *command) reply { return d.publ(c, false) }},
		"+TCMQTTSUB": {test: constReply(fmt.Sprintf(`+TCMQTTSUB:"TOPIC_NAME(maxlen %d)","QOS(0/1)"`, tcMaxTopic)),
			read: d.subRead, set: d.sub},
		"+TCMQTTUNSUB": {test: constReply(`+TCMQTTUNSUB:"TOPIC_NAME"`), read: constReply(), set: d.unsub},
		"+TCMQTTSTATE": {test: constReply(), read: d.stateRead},
		"+TCOTASET": {test: constReply(`+TCOTASET:1(ENABLE)/0(DISABLE),"FW_version"`), read: d.otaRead,
			set: d.otaSet},
		"+TCFWINFO":     {test: constReply(`+TCFWINFO:"FW_VERSION","FW_SIZE","FW_MD5","FW_MAX_SIZE_OF_MODULE"`), read: d.fwInfo},
		"+TCREADFWDATA": {test: constReply(`+TCREADFWDATA:"LEN_FOR_READ"`), set: d.readFW},
	}
}

// Identity of the simulated firmware (the doc's AT+TCMODULE and AT+TCVER
// examples).
const (
	tcATVersion  = "QCloud_AT_ESP8266_v2.0.0"
	tcSDKVersion = "3.2.0"
	tcCompiled   = "Jun 17 2020 16:25:27"
)

func (d *tencent) module() reply {
	return tcOK("Module HW name: ESP-WROOM-02D", "Module FW version: "+tcATVersion,
		"Module Mac addr: 24:0a:c4:00:00:01", "Module FW compiled time: "+tcCompiled, "Module Flash size: 2MB")
}

// running is is_mqtt_task_running: the client task exists, connected or
// reconnecting.
func (d *tencent) running() bool { return d.sess != nil }

// connected is get_mqtt_connect_state: the client is up now.
func (d *tencent) connected() bool { return d.sess != nil && d.sess.link != nil }

// downloading is is_fw_downloading.
func (d *tencent) downloading() bool { return d.ota != nil && d.ota.downloading }

// restore is AT+TCRESTORE: device info and cached firmware cleared, then a
// reboot (qcloud_at_cmd.c at_restore_exec).
func (d *tencent) restore() reply {
	switch {
	case d.running():
		return tcCME(tcErrState)
	case d.downloading():
		return tcCME(tcErrDealing)
	}
	d.dev, d.fw = tcDevInfo{}, tcFirmware{}
	r := tcReply("OK")
	r.after = d.m.rebootLocked
	return r
}

func (d *tencent) srvRead() reply {
	if d.srv == "" {
		return tcOK("+TCMQTTSRV:NULL")
	}
	return tcOK("+TCMQTTSRV:" + d.srv)
}

func (d *tencent) srvSet(c *command) reply {
	if d.running() {
		return tcCME(tcErrState)
	}
	host, fail := parseSrv(c.args)
	if fail != tcPass {
		return fail.reply()
	}
	if host == "" {
		return tcReply("OK", "+TCMQTTSRV:FAIL")
	}
	d.srv = host
	return tcReply("OK", "+TCMQTTSRV:OK")
}

func (d *tencent) devInfoRead() reply {
	switch {
	case d.downloading():
		return tcCME(tcErrDealing)
	case !d.dev.set:
		return tcCME(tcErrFlash) // nothing valid in flash
	}
	v := d.dev
	return tcOK(fmt.Sprintf(`+TCDEVINFOSET:%d,"%s","%s",%d,"%s"`, v.tls, v.pid, v.dn, bcc(v.secret), v.region))
}

func (d *tencent) devInfoSet(c *command) reply {
	switch {
	case d.running():
		return tcCME(tcErrState)
	case d.downloading():
		return tcCME(tcErrDealing)
	}
	v, fail := parseDevInfo(c.args)
	if fail != tcPass {
		return fail.reply()
	}
	d.dev = v
	return tcReply("OK", "+TCDEVINFOSET:OK")
}

func (d *tencent) stateRead() reply {
	return tcOK(fmt.Sprintf("+TCMQTTSTATE:%d", b2i(d.connected())))
}

func (d *tencent) connRead() reply {
	p := d.params
	return tcOK(fmt.Sprintf("+TCMQTTCONN:1,%d,%d,%d,%d", p.timeout.Milliseconds(), p.keepalive, b2i(p.clean), b2i(p.reconnect)))
}

func (d *tencent) publTest(name string) func() reply {
	return constReply(fmt.Sprintf(`%s: "TOPIC_NAME(maxlen %d)", "QOS(0/1)","LEN(1-%d)"`, name, tcMaxTopic, tcMaxPubL))
}

// async runs wait (a command's wait for the network) with the module
// busy, and then writes the result line it returns, unless the module
// rebooted or stopped meanwhile. Called with m.mu held.
func (d *tencent) async(wait func() string) {
	m := d.m
	d.busy = true
	gen := m.gen
	m.goAsync(func() {
		l := wait()
		m.mu.Lock()
		defer m.mu.Unlock()
		if gen != m.gen || m.closed {
			return
		}
		d.busy = false
		if l != "" {
			m.emitLocked(tcLine(l))
		}
	})
}

// sleepCtx sleeps for dur or until done is closed; false if done.
func sleepCtx(done <-chan struct{}, dur time.Duration) bool {
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-done:
		return false
	}
}
