package mqtt

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// validateTopic checks a topic to publish to: 1 to MaxTopicLen bytes of
// UTF-8, no NUL, no wildcard.
func validateTopic(topic string) error {
	if err := validateCommon("topic", topic); err != nil {
		return err
	}
	if strings.ContainsAny(topic, "+#") {
		return fmt.Errorf("uplink: topic %q contains a wildcard ('+' or '#'); publish to a concrete topic", topic)
	}
	return nil
}

// validateFilter checks a subscription filter: like a topic, but '+' may
// stand for a whole level and '#' for the whole last level.
func validateFilter(filter string) error {
	if err := validateCommon("filter", filter); err != nil {
		return err
	}
	levels := strings.Split(filter, "/")
	for i, l := range levels {
		switch {
		case l == "#" && i != len(levels)-1:
			return fmt.Errorf("uplink: filter %q: '#' must be the last level", filter)
		case l == "+" || l == "#":
		case strings.ContainsAny(l, "+#"):
			return fmt.Errorf("uplink: filter %q: a wildcard must fill a whole level, as in a/+/c or a/#", filter)
		}
	}
	return nil
}

func validateCommon(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("uplink: %s is empty", what)
	case len(s) > MaxTopicLen:
		return fmt.Errorf("uplink: %s is %d bytes, the hub's limit is %d (QCLOUD_ERR_MAX_TOPIC_LENGTH, -138)", what, len(s), MaxTopicLen)
	case !utf8.ValidString(s):
		return fmt.Errorf("uplink: %s is not valid UTF-8", what)
	case strings.IndexByte(s, 0) >= 0:
		return fmt.Errorf("uplink: %s contains a NUL byte", what)
	}
	return nil
}

// match reports whether topic matches filter, with MQTT's + and # rules. A
// filter starting with a wildcard does not match a topic starting with '$'
// (MQTT 3.1.1 §4.7.2), so "#" does not receive "$sys/...".
func match(filter, topic string) bool {
	if len(topic) > 0 && topic[0] == '$' && len(filter) > 0 && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		tl, trest, tmore := strings.Cut(topic, "/")
		switch {
		case fl == "#":
			return true
		case fl != "+" && fl != tl:
			return false
		}
		switch {
		case !fmore && !tmore:
			return true
		case !tmore:
			// "a/#" also matches "a".
			return frest == "#"
		case !fmore:
			return false
		}
		filter, topic = frest, trest
	}
}

// errQoS2 is the reply to a QoS 2 request.
var errQoS2 = errors.New("uplink: QoS 2 is not supported by the hub (QCLOUD_ERR_MQTT_QOS_NOT_SUPPORT, -120); use QoS 0 or 1")

// parseQoS reads the qos metadata: "" or "0" → 0, "1" → 1.
func parseQoS(s string) (byte, error) {
	switch s {
	case "", "0":
		return 0, nil
	case "1":
		return 1, nil
	case "2":
		return 0, errQoS2
	}
	return 0, fmt.Errorf("uplink: qos %q: use 0 or 1", s)
}
