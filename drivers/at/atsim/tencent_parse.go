package atsim

import (
	"strconv"
	"time"
)

// Parameter checks of the TC commands, in the order and with the answers
// of the firmware's handlers (qcloud_at_cmd.c): ESP-AT's ERROR where the
// handler returns ESP_AT_RESULT_CODE_ERROR (a wrong parameter count for
// PUB, PUBL and SUB, a first numeric parameter that is not a number), and
// +CME ERROR:204 for every other bad parameter. They are pure, so that a
// fuzz target can drive them.

// tcFail is the outcome of a check: tcPass, tcSyntax (ERROR) or a +CME
// ERROR code.
type tcFail int

const (
	tcPass   tcFail = 0
	tcSyntax tcFail = -1
	tcBad    tcFail = tcErrParam
)

func (f tcFail) reply() reply {
	if f == tcSyntax {
		return errorReply()
	}
	return tcCME(int(f))
}

// tcArgs reads parameters as ESP-AT's esp_at_get_para_as_digit and
// esp_at_get_para_as_str do: a number is unquoted, a string is quoted, and
// an omitted parameter is neither.
type tcArgs []arg

func (a tcArgs) digit(i int) (int, bool) {
	if i >= len(a) || a[i].quoted {
		return 0, false
	}
	n, err := strconv.ParseInt(a[i].s, 10, 32)
	return int(n), err == nil
}

func (a tcArgs) str(i int) (string, bool) {
	if i >= len(a) || !a[i].quoted {
		return "", false
	}
	return a[i].s, true
}

// text is string parameter i, 1 to max bytes long.
func (a tcArgs) text(i, max int) (string, bool) {
	s, ok := a.str(i)
	return s, ok && len(s) >= 1 && len(s) <= max
}

// oneOf is numeric parameter i when it is lo..hi.
func (a tcArgs) oneOf(i, lo, hi int) (int, bool) {
	n, ok := a.digit(i)
	return n, ok && n >= lo && n <= hi
}

// parseDevInfo checks AT+TCDEVINFOSET=<tls_mode>,"<product_id>",
// "<device_name>","<device_secret>"[,"<product_region>"]. The ESP
// firmware takes tls_mode 1 only.
func parseDevInfo(args []arg) (tcDevInfo, tcFail) {
	a := tcArgs(args)
	v := tcDevInfo{region: tcDefaultRegion, set: true}
	var ok bool
	if v.tls, ok = a.digit(0); !ok {
		return tcDevInfo{}, tcSyntax
	}
	if v.tls != 1 {
		return tcDevInfo{}, tcBad
	}
	if v.pid, ok = a.text(1, tcMaxProductID); !ok {
		return tcDevInfo{}, tcBad
	}
	if v.dn, ok = a.text(2, tcMaxDeviceName); !ok {
		return tcDevInfo{}, tcBad
	}
	if v.secret, ok = a.text(3, tcMaxSecret); !ok {
		return tcDevInfo{}, tcBad
	}
	n := 4
	if len(a) > n {
		if v.region, ok = a.text(n, tcMaxRegion); !ok {
			return tcDevInfo{}, tcBad
		}
		n++
	}
	if len(a) != n {
		return tcDevInfo{}, tcBad
	}
	return v, tcPass
}

// Command timeout range of AT+TCMQTTCONN: the SDK's MIN_COMMAND_TIMEOUT
// and MAX_COMMAND_TIMEOUT (PROTOCOL.md §1.4), which the handler checks.
const (
	tcMinCmdTimeout = 500
	tcMaxCmdTimeout = 20000
)

// tcParams are AT+TCMQTTCONN's parameters.
type tcParams struct {
	timeout   time.Duration // <cmdtimeout>: connect, SUBACK and PUBACK waits
	keepalive int           // seconds
	clean     bool
	reconnect bool
}

// tcDefaultParams are DEFAULT_MQTTINIT_PARAMS, what AT+TCMQTTCONN? shows
// before a connection.
var tcDefaultParams = tcParams{timeout: 5 * time.Second, keepalive: 240, clean: true, reconnect: true}

// parseConn checks AT+TCMQTTCONN=<tlsmode>,<cmdtimeout>,<keepalive>,
// <clean_session>,<reconnect>.
func parseConn(args []arg) (tcParams, tcFail) {
	a := tcArgs(args)
	tls, ok := a.digit(0)
	if !ok {
		return tcParams{}, tcSyntax
	}
	if tls != 1 {
		return tcParams{}, tcBad
	}
	ms, ok1 := a.oneOf(1, tcMinCmdTimeout, tcMaxCmdTimeout)
	ka, ok2 := a.oneOf(2, 60, 690)
	clean, ok3 := a.oneOf(3, 0, 1)
	rec, ok4 := a.oneOf(4, 0, 1)
	if !ok1 || !ok2 || !ok3 || !ok4 || len(a) != 5 {
		return tcParams{}, tcBad
	}
	return tcParams{timeout: time.Duration(ms) * time.Millisecond, keepalive: ka, clean: clean == 1, reconnect: rec == 1}, tcPass
}

// parseTopicQoS checks the "<topic>",<qos> that PUB, PUBL and SUB start
// with; n is the parameter count the command must have.
func parseTopicQoS(args []arg, n int) (string, byte, tcFail) {
	a := tcArgs(args)
	if len(a) != n {
		return "", 0, tcSyntax
	}
	topic, ok := a.text(0, tcMaxTopic)
	if !ok {
		return "", 0, tcBad
	}
	qos, ok := a.oneOf(1, 0, 1)
	if !ok {
		return "", 0, tcBad
	}
	return topic, byte(qos), tcPass
}

// parsePub checks AT+TCMQTTPUB="<topic>",<qos>,"<message>". ESP-AT has
// already undone the backslash escapes of the quoted message.
func parsePub(args []arg) (topic string, qos byte, payload string, fail tcFail) {
	topic, qos, fail = parseTopicQoS(args, 3)
	if fail != tcPass {
		return "", 0, "", fail
	}
	payload, ok := tcArgs(args).str(2)
	if !ok || payload == "" {
		return "", 0, "", tcBad
	}
	return topic, qos, payload, tcPass
}

// parsePubL checks AT+TCMQTTPUBL (and PUBRAW)="<topic>",<qos>,<msg_length>.
func parsePubL(args []arg) (topic string, qos byte, n int, fail tcFail) {
	topic, qos, fail = parseTopicQoS(args, 3)
	if fail != tcPass {
		return "", 0, 0, fail
	}
	n, ok := tcArgs(args).oneOf(2, 1, tcMaxPubL)
	if !ok {
		return "", 0, 0, tcBad
	}
	return topic, qos, n, tcPass
}

// parseSub checks AT+TCMQTTSUB="<topic>",<qos>.
func parseSub(args []arg) (string, byte, tcFail) { return parseTopicQoS(args, 2) }

// parseUnsub checks AT+TCMQTTUNSUB="<topic>".
func parseUnsub(args []arg) (string, tcFail) {
	a := tcArgs(args)
	topic, ok := a.text(0, tcMaxTopic)
	if !ok || len(a) != 1 {
		return "", tcBad
	}
	return topic, tcPass
}

// parseOTASet checks AT+TCOTASET=<ctlstate>,"<fw_ver>".
func parseOTASet(args []arg) (bool, string, tcFail) {
	a := tcArgs(args)
	ctl, ok1 := a.oneOf(0, 0, 1)
	ver, ok2 := a.text(1, tcMaxVersion)
	if !ok1 || !ok2 || len(a) != 2 {
		return false, "", tcBad
	}
	return ctl == 1, ver, tcPass
}

// parseReadFW checks AT+TCREADFWDATA=<len>. The firmware does not check
// for a length below 1; the simulator refuses it like an oversize one.
func parseReadFW(args []arg) (int, tcFail) {
	a := tcArgs(args)
	n, ok := a.oneOf(0, 1, tcMaxReadFW)
	if !ok || len(a) != 1 {
		return 0, tcBad
	}
	return n, tcPass
}

// parseSrv checks AT+TCMQTTSRV="<host>"; the host is cut to the
// firmware's buffer. "" passes: the firmware answers it +TCMQTTSRV:FAIL.
func parseSrv(args []arg) (string, tcFail) {
	a := tcArgs(args)
	host, ok := a.str(0)
	if !ok || len(a) != 1 {
		return "", tcBad
	}
	return host[:min(len(host), tcMaxHost)], tcPass
}

// cleanEscapes is the PUBL payload workaround of the firmware
// (clean_escapes): a backslash before '"' or ',' becomes a space, and of
// every second escaped quote the space moves after the quote, so
// {\"a\":1} arrives as { "a" :1}. The length does not change; the scan
// stops at a NUL byte, as the firmware's does.
func cleanEscapes(p []byte) {
	quotes := 0
	for i := 0; i+1 < len(p) && p[i] != 0; {
		if p[i] != '\\' || (p[i+1] != '"' && p[i+1] != ',') {
			i++
			continue
		}
		p[i] = ' '
		if p[i+1] == '"' {
			quotes++
			if quotes%2 == 0 {
				p[i], p[i+1] = p[i+1], p[i]
			}
		}
		i += 2
	}
}
