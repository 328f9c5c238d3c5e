package attencent

import (
	"strconv"
	"strings"
)

// Parsers of what the module prints. The firmware prints no space after
// the colon; the esp-at document shows one in places and cellular TC
// firmwares print one, so every parser accepts both (tencent.md §1, §8).

// result is a TC command's result line: "+TCMQTTPUB:OK",
// "+TCMQTTPUB:FAIL,202", "+TCMQTTSRV:FAIL".
type result struct {
	ok   bool
	code int // the FAIL code; 0 when none was given
}

// parseResult reads the result line of the command name ("+TCMQTTSUB").
func parseResult(line, name string) (result, bool) {
	rest, ok := strings.CutPrefix(line, name)
	if !ok {
		return result{}, false
	}
	rest, ok = strings.CutPrefix(rest, ":")
	if !ok {
		return result{}, false
	}
	rest = strings.TrimSpace(rest)
	if rest == "OK" {
		return result{ok: true}, true
	}
	rest, ok = strings.CutPrefix(rest, "FAIL")
	if !ok {
		return result{}, false
	}
	if rest == "" {
		return result{}, true
	}
	rest, ok = strings.CutPrefix(rest, ",")
	if !ok {
		return result{}, false
	}
	code, err := strconv.Atoi(strings.TrimSpace(rest))
	if err != nil {
		return result{}, false
	}
	return result{code: code}, true
}

// parseDiscon reads "+TCMQTTDISCON,<code>" (the ESP firmware) or
// "+TCMQTTDISCON: <code>" (cellular ones).
func parseDiscon(line string) (int, bool) {
	rest, ok := strings.CutPrefix(line, "+TCMQTTDISCON")
	if !ok || rest == "" || (rest[0] != ',' && rest[0] != ':') {
		return 0, false
	}
	code, err := strconv.Atoi(strings.TrimSpace(rest[1:]))
	return code, err == nil
}

// Prefixes of +TCMQTTRCVPUB, with and without the space.
var rcvPrefixes = []string{`+TCMQTTRCVPUB:"`, `+TCMQTTRCVPUB: "`}

// parseRcvTopic reads the first part of +TCMQTTRCVPUB as the engine cuts
// it at the topic's closing quote: `+TCMQTTRCVPUB:"<topic>"`.
func parseRcvTopic(line string) (string, bool) {
	for _, p := range rcvPrefixes {
		rest, ok := strings.CutPrefix(line, p)
		if !ok {
			continue
		}
		topic, ok := strings.CutSuffix(rest, `"`)
		if !ok || topic == "" || strings.Contains(topic, `"`) {
			return "", false
		}
		return topic, true
	}
	return "", false
}

// parseRcvLen reads the second part, cut at the payload's opening quote:
// `,<len>,"`. The length is bounded by what one read may claim.
func parseRcvLen(line string, limit int) (int, bool) {
	rest, ok := strings.CutPrefix(line, ",")
	if !ok {
		return 0, false
	}
	rest, ok = strings.CutSuffix(rest, `"`)
	if !ok {
		return 0, false
	}
	return countBefore(strings.TrimSpace(rest), ",", limit)
}

// countBefore reads "<n><end>": a count from 0 to limit.
func countBefore(s, end string, limit int) (int, bool) {
	s, ok := strings.CutSuffix(s, end)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 || n > limit {
		return 0, false
	}
	return n, true
}

// parseInfo reads "Key: value" lines (AT+TCMODULE, AT+TCVER) into a map;
// other lines are skipped.
func parseInfo(lines []string) map[string]string {
	m := make(map[string]string)
	for _, l := range lines {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		k = strings.Join(strings.Fields(k), " ")
		if k != "" {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// parseState reads "+TCMQTTSTATE:<0|1>" among lines.
func parseState(lines []string) (connected, ok bool) {
	for _, l := range lines {
		rest, found := strings.CutPrefix(l, "+TCMQTTSTATE:")
		if !found {
			continue
		}
		switch strings.TrimSpace(rest) {
		case "1":
			return true, true
		case "0":
			return false, true
		}
	}
	return false, false
}

// parseJoined reads AT+CWJAP?'s answer: the SSID of the network the module
// is on, "" for "No AP" or anything else.
func parseJoined(lines []string) string {
	for _, l := range lines {
		rest, ok := strings.CutPrefix(l, "+CWJAP:")
		if !ok {
			continue
		}
		rest = strings.TrimSpace(rest)
		if !strings.HasPrefix(rest, `"`) {
			continue
		}
		if end := strings.Index(rest[1:], `",`); end >= 0 {
			return rest[1 : 1+end]
		}
		if s, ok := strings.CutSuffix(rest[1:], `"`); ok {
			return s
		}
	}
	return ""
}
