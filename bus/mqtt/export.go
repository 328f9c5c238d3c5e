package mqtt

// Topic rules shared with the other MQTT-speaking uplink, bus/attencent,
// whose MQTT client runs on the module: the same checks and the same
// matching, so that a filter means the same whichever channel carries it.

// ValidateTopic checks a topic to publish to: 1 to MaxTopicLen bytes of
// UTF-8, no NUL, no wildcard.
func ValidateTopic(topic string) error { return validateTopic(topic) }

// ValidateFilter checks a subscription filter: like a topic, but '+' may
// stand for a whole level and '#' for the whole last level.
func ValidateFilter(filter string) error { return validateFilter(filter) }

// Match reports whether topic matches filter, with MQTT's + and # rules.
func Match(filter, topic string) bool { return match(filter, topic) }

// ParseQoS reads a bus request's qos metadata: "" or "0" → 0, "1" → 1;
// QoS 2 and anything else are errors that say what to use.
func ParseQoS(s string) (byte, error) { return parseQoS(s) }
