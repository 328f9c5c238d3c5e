package daemon

import (
	"fmt"
	"strings"
	"time"

	"github.com/iotd/iotd/core"
)

// refusalHint explains a CONNACK refusal in terms of what the user can
// check. MQTT 3.1.1 carries no reason text, so the hint uses what iotd knows:
// its own configuration and clock.
func (d *Daemon) refusalHint(errText string) string {
	switch {
	case strings.Contains(errText, "bad username or password"):
		if strings.EqualFold(d.device.AuthMode, core.AuthCert) {
			return "the hub rejected the device certificate's credentials; check cert_deviceinfo files"
		}
		if d.cfg.MQTT.UsernameExpiry == 0 {
			return "the signature does not match: key_deviceinfo.deviceSecret in " + d.cfg.DeviceInfoPath() + " is wrong (the username never expires, so it is not an expiry)"
		}
		return fmt.Sprintf("either key_deviceinfo.deviceSecret is wrong or the signed username expired: it was valid for %s from local time %s; if this clock is behind the hub's, fix the clock or raise mqtt.username_expiry",
			d.cfg.MQTT.UsernameExpiry, d.clock.Now().UTC().Format(time.RFC3339))
	case strings.Contains(errText, "identifier rejected"):
		return fmt.Sprintf("the hub does not know client id %q: check productId and deviceName in %s", d.device.ClientID(), d.cfg.DeviceInfoPath())
	case strings.Contains(errText, "not authorized"):
		return "the device is not allowed to connect this way (a CERT device needs its client certificate; a disabled device is refused)"
	}
	return ""
}
