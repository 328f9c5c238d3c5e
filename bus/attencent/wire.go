package attencent

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The command lines the uplink sends, and the choice of publish command.

// maxLine is the longest command line the ESP firmware takes, line end
// included (tencent.md §1: a longer one is refused with ERROR).
const maxLine = 256

// maxPubL is the payload limit of AT+TCMQTTPUBL and AT+TCMQTTPUBRAW.
const maxPubL = 2048

// espQuote quotes s as an ESP-AT string parameter: backslash, quote and
// comma are escaped with a backslash (esp-at "ESP-AT 命令说明" 3).
func espQuote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '"', ',':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// devInfoCmd is AT+TCDEVINFOSET with tls_mode 1, the only one the ESP
// firmware takes. It carries the secret: never log it (the engine logs and
// reports only the command's name).
func devInfoCmd(pid, dn, secret, region string) string {
	s := fmt.Sprintf("AT+TCDEVINFOSET=1,%s,%s,%s", espQuote(pid), espQuote(dn), espQuote(secret))
	if region != "" && region != "china" {
		s += "," + espQuote(region)
	}
	return s
}

// connCmd is AT+TCMQTTCONN with the module's own reconnect on: it
// reconnects and restores the subscriptions by itself, reporting
// +TCMQTTRECONNECTING and +TCMQTTRECONNECTED; the uplink takes over only
// once it gives up (+TCMQTTDISCON,-106).
func connCmd(cmdTimeout, keepAlive time.Duration, clean bool) string {
	return fmt.Sprintf("AT+TCMQTTCONN=1,%d,%d,%d,1", cmdTimeout.Milliseconds(), int(keepAlive/time.Second), b2i(clean))
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// publish is how one message goes to the module: a command line, and for
// PUBL/PUBRAW the payload sent after the prompt.
type publish struct {
	text    string
	name    string // the result's name: "+TCMQTTPUB", "+TCMQTTPUBL", ...
	payload []byte // nil for AT+TCMQTTPUB
}

var errEmptyPayload = errors.New("attencent: the TC firmware cannot publish an empty payload (AT+TCMQTTPUB and PUBL both refuse it with 204); send at least one byte")

// publishCmd picks the command for payload. AT+TCMQTTPUB carries it in
// the command line, escaped, when it is text that fits the 256-byte line.
// Otherwise AT+TCMQTTPUBL sends it after a prompt, counted by length, up
// to 2048 bytes; but PUBL rewrites the escape sequences \" and \, in the
// payload (tencent.md §3), so a payload holding one, or a NUL (where that
// rewriting stops), goes with the binary-safe AT+TCMQTTPUBRAW.
func publishCmd(topic string, qos byte, payload []byte) (publish, error) {
	switch {
	case len(payload) == 0:
		return publish{}, errEmptyPayload
	case len(payload) > maxPubL:
		return publish{}, fmt.Errorf("attencent: payload of %d bytes; Tencent's AT firmware publishes at most %d (AT+TCMQTTPUBL); use channel: mqtt for larger messages", len(payload), maxPubL)
	case bytes.Contains(payload, []byte("+++\r\n")):
		return publish{}, errors.New(`attencent: the payload holds "+++" CR LF, which the firmware takes as the end of data mode; it cannot be published through the module`)
	}
	t := espQuote(topic)
	if printable(payload) {
		line := fmt.Sprintf("AT+TCMQTTPUB=%s,%d,%s", t, qos, espQuote(string(payload)))
		if len(line)+2 <= maxLine {
			return publish{text: line, name: "+TCMQTTPUB"}, nil
		}
	}
	name := "+TCMQTTPUBL"
	if bytes.Contains(payload, []byte(`\"`)) || bytes.Contains(payload, []byte(`\,`)) || bytes.IndexByte(payload, 0) >= 0 {
		name = "+TCMQTTPUBRAW"
	}
	text := "AT" + name + "=" + t + "," + strconv.Itoa(int(qos)) + "," + strconv.Itoa(len(payload))
	// The firmware wants CR LF after the counted bytes; it is not counted.
	data := append(append(make([]byte, 0, len(payload)+2), payload...), '\r', '\n')
	return publish{text: text, name: name, payload: data}, nil
}

// printable reports whether p can travel inside a command line: UTF-8 text
// with no control character (a CR or LF would end the line).
func printable(p []byte) bool {
	if !utf8.Valid(p) {
		return false
	}
	for _, c := range p {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// checkFilter refuses what the module cannot carry in a subscription: a
// quote would end +TCMQTTRCVPUB's topic early, so messages could not be
// told apart.
func checkFilter(filter string) error {
	if strings.ContainsAny(filter, "\"\r\n") {
		return fmt.Errorf("attencent: filter %q: quotes and line ends cannot pass through Tencent's AT firmware", filter)
	}
	return nil
}
