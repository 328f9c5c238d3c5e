package hubsim

import "strings"

// MaxTopicLen is the longest topic the hub accepts (PROTOCOL.md §1.4).
const MaxTopicLen = 128

// DeviceRef names a device.
type DeviceRef struct {
	ProductID  string `json:"productId"`
	DeviceName string `json:"deviceName"`
}

// ClientID is the MQTT client id of the device.
func (r DeviceRef) ClientID() string { return r.ProductID + r.DeviceName }

func (r DeviceRef) String() string { return r.ProductID + "/" + r.DeviceName }

// ACLRule grants extra topics to a device beyond its own; services add rules
// (a gateway may publish on its bound sub-devices' topics). A rule returns
// true to allow; rules cannot deny what the base ACL allows.
type ACLRule func(dev DeviceRef, topic string, write bool) bool

// Allowed reports whether the base ACL lets dev use topic (a topic name for
// publish, a filter for subscribe):
//
//   - {pid}/{dn}/... — the device's data topics, any suffix;
//   - $x/y/{pid}/{dn}[/...] and $x/y/z/{pid}/{dn}[/...] — system topics such
//     as $sys/operation/result/{pid}/{dn} or $rrpc/rxd/{pid}/{dn}/+, where
//     the levels before the product id are literal;
//   - nothing longer than MaxTopicLen, and nothing else.
func Allowed(dev DeviceRef, topic string) bool {
	if len(topic) > MaxTopicLen || dev.ProductID == "" || dev.DeviceName == "" {
		return false
	}
	own := dev.ProductID + "/" + dev.DeviceName + "/"
	if strings.HasPrefix(topic, own) && len(topic) > len(own) {
		return true
	}
	if !strings.HasPrefix(topic, "$") || strings.HasPrefix(topic, "$SYS") {
		return false
	}
	parts := strings.Split(topic, "/")
	for at := 2; at <= 3; at++ {
		if len(parts) < at+2 {
			break
		}
		if !literal(parts[:at]) {
			break
		}
		if parts[at] == dev.ProductID && parts[at+1] == dev.DeviceName {
			return true
		}
	}
	return false
}

func literal(levels []string) bool {
	for _, l := range levels {
		if l == "" || strings.ContainsAny(l, "+#") {
			return false
		}
	}
	return true
}

// DeviceOfTopic returns the device a topic belongs to under the ACL layout,
// using exists to tell real devices apart.
func DeviceOfTopic(topic string, exists func(DeviceRef) bool) (DeviceRef, bool) {
	parts := strings.Split(topic, "/")
	for i := 0; i+1 < len(parts) && i <= 3; i++ {
		r := DeviceRef{ProductID: parts[i], DeviceName: parts[i+1]}
		if r.ProductID != "" && r.DeviceName != "" && exists(r) && Allowed(r, topic) {
			return r, true
		}
	}
	return DeviceRef{}, false
}

// Match reports whether an MQTT topic filter (with + and #) matches topic.
func Match(filter, topic string) bool {
	f := strings.Split(filter, "/")
	t := strings.Split(topic, "/")
	for i, level := range f {
		if level == "#" {
			return true // matches the parent level and everything below
		}
		if i >= len(t) {
			return false
		}
		if level != "+" && level != t[i] {
			return false
		}
	}
	return len(f) == len(t)
}
