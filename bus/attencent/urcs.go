package attencent

import "github.com/iotd/iotd/drivers/at"

// eventURCs registers what the module reports by itself about its
// connection and its own state. Handlers run on the engine's reader
// goroutine: they only queue.
func (u *Uplink) eventURCs() []at.URC {
	push := func(k eventKind) func(string) int {
		return func(string) int { u.ev.push(event{kind: k}); return 0 }
	}
	return []at.URC{
		{Prefix: "+TCMQTTDISCON", Line: func(l string) int {
			if code, ok := parseDiscon(l); ok {
				u.ev.push(event{kind: evDiscon, code: code})
			} else {
				u.log.Debug("attencent: unreadable disconnect report dropped")
			}
			return 0
		}},
		{Prefix: "+TCMQTTRECONNECTING", Line: push(evReconnecting)},
		{Prefix: "+TCMQTTRECONNECTED", Line: push(evReconnected)},
		{Prefix: "ready", Line: push(evReboot)},
		{Prefix: "WIFI DISCONNECT", Line: push(evWiFiLost)},
	}
}
