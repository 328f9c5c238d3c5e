package daemon

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// refusal is what a hint about a refused connection draws on. MQTT 3.1.1
// carries no reason text and a refused client certificate arrives as a bare
// alert or reset, so the hints use what iotd knows: its own configuration
// and clock.
type refusal struct {
	cert       bool   // a certificate device
	clientID   string // productId + deviceName
	deviceInfo string // device_info.json's path
	// expiry is mqtt.username_expiry; signedAt the time the username was
	// signed with (the daemon's clock, corrected by time sync when synced).
	expiry   time.Duration
	signedAt time.Time
}

func (d *Unit) refusal() refusal {
	return refusal{
		cert:       d.dev.Identity().IsCert(),
		clientID:   d.dev.Identity().ClientID(),
		deviceInfo: d.cfg.DeviceInfoPath(),
		expiry:     d.cfg.MQTT.UsernameExpiry,
		signedAt:   d.dev.Clock().Now(),
	}
}

// refusalHint explains a failed connection attempt, from its error text, in
// terms of what the user can check; "" when it has no advice.
func (d *Unit) refusalHint(errText string) string { return d.refusal().hint(errText) }

func (r refusal) hint(errText string) string {
	if code, ok := connackCode(errText); ok {
		return r.connackHint(code)
	}
	if r.cert && certRefused(errText) {
		return r.certHint()
	}
	return ""
}

var connackRC = regexp.MustCompile(`CONNACK return code (\d+)`)

// connackCode finds the return code of a CONNACK refusal in an error text:
// core.ConnackError's, or paho's own wording of the codes iotd hints about.
func connackCode(errText string) (byte, bool) {
	if m := connackRC.FindStringSubmatch(errText); m != nil {
		n, err := strconv.ParseUint(m[1], 10, 8)
		return byte(n), err == nil
	}
	for code, phrase := range map[byte]string{2: "identifier rejected", 4: "bad user", 5: "not authori"} {
		if strings.Contains(strings.ToLower(errText), phrase) {
			return code, true
		}
	}
	return 0, false
}

// certRefused reports whether an error text is how a refused client
// certificate shows: a TLS alert about a certificate (in the handshake under
// TLS 1.2; on the first read under TLS 1.3, where the client's handshake is
// over before the server checks its certificate), a reset in the
// handshake, or the connection reset or closed before CONNACK.
func certRefused(errText string) bool {
	if strings.Contains(errText, "remote error: tls:") && strings.Contains(errText, "certificate") {
		return true
	}
	if strings.Contains(errText, "handshake with") && strings.Contains(errText, "connection reset") {
		return true
	}
	beforeConnack := strings.Contains(errText, "uplink: connect:")
	return beforeConnack && (strings.Contains(errText, "connection reset") || strings.HasSuffix(errText, "EOF"))
}

// certHint is the advice for a client certificate the hub refused.
func (r refusal) certHint() string {
	return fmt.Sprintf("the hub refused the client certificate: check that cert_deviceinfo.devCertFile and devPrivateKeyFile in %s belong to this device (%s), are not expired or revoked, and were issued by the hub for this product",
		r.deviceInfo, r.clientID)
}

// connackHint explains CONNACK return code code.
func (r refusal) connackHint(code byte) string {
	switch code {
	case 1:
		return "the server does not speak MQTT 3.1.1: is link.endpoint the hub's MQTT port?"
	case 2:
		return fmt.Sprintf("the hub does not know client id %q: check productId and deviceName in %s", r.clientID, r.deviceInfo)
	case 3:
		return "the hub cannot take the connection now; iotd keeps retrying"
	case 4:
		return r.badCredentialsHint()
	case 5:
		if r.cert {
			return fmt.Sprintf("the hub did not accept a client certificate for %s (none was sent that it trusts, or it is another device's): check that cert_deviceinfo.devCertFile and devPrivateKeyFile in %s are this device's, not expired or revoked; a device disabled in the console is refused too",
				r.clientID, r.deviceInfo)
		}
		return fmt.Sprintf("a wrong key_deviceinfo.deviceSecret in %s, or the device is disabled in the console (or is a certificate device: then set auth_mode CERT and its certificate files)",
			r.deviceInfo)
	}
	return ""
}

// badCredentialsHint explains CONNACK 4: a wrong secret, or a username
// whose expiry had passed on the hub's clock.
func (r refusal) badCredentialsHint() string {
	if r.expiry == 0 {
		if r.cert {
			return fmt.Sprintf("the hub refused the username of a certificate device (it never expires, so it is not an expiry): check that the certificate files in %s are this device's", r.deviceInfo)
		}
		return "the signature does not match: key_deviceinfo.deviceSecret in " + r.deviceInfo + " is wrong (the username never expires, so it is not an expiry)"
	}
	cause := "either key_deviceinfo.deviceSecret is wrong or the signed username expired"
	if r.cert {
		cause = "the signed username expired"
	}
	return fmt.Sprintf("%s: it was valid for %s from local time %s; if this clock is behind the hub's, fix the clock or raise mqtt.username_expiry (0 never expires)",
		cause, r.expiry, r.signedAt.UTC().Format(time.RFC3339))
}
