package hubsim

import (
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/iotd/iotd/core"
)

// CONNACK return codes (MQTT 3.1.1) the hub refuses with. The hub speaks
// MQTT 3.1.1 only: it never sends an MQTT 5 reason code (0x80 and up).
const (
	// CodeUnacceptableProtocol: a protocol level other than 3.1.1's 4 (or
	// 3.1's 3), MQTT 5 included.
	CodeUnacceptableProtocol byte = 1
	// CodeIdentifierRejected: unknown client id, or the id inside the
	// username does not match it.
	CodeIdentifierRejected byte = 2
	// CodeServerUnavailable is not sent by hubsim's own checks; it stands
	// for any broker refusal MQTT 3.1.1 has no code for.
	CodeServerUnavailable byte = 3
	// CodeBadCredentials: malformed or expired username, wrong app id or
	// connection id, missing or wrong password.
	CodeBadCredentials byte = 4
	// CodeNotAuthorized: a cert device without a valid certificate (or
	// without TLS), or a disabled device.
	CodeNotAuthorized byte = 5
)

// altAppID is the app id Tencent's MQTT documentation names; the SDKs send
// core.SDKAppID. Both are accepted (PROTOCOL.md §9).
const altAppID = "12010126"

// connectRequest is what authentication looks at from a CONNECT.
type connectRequest struct {
	ClientID string
	Username string
	Password []byte
	// TLS is set for connections that run over TLS (the TLS listener, wss).
	TLS bool
	// PeerCert is the client certificate, already verified against the
	// hubsim CA by the TLS handshake; nil when none was given.
	PeerCert *x509.Certificate
}

// refusal is a refused CONNECT: the CONNACK code (0: none, the connection
// is just closed) and a reason a user can act on. It never contains a
// secret or the password.
type refusal struct {
	Code   byte
	Reason string
}

func (r *refusal) Error() string {
	if r.Code == 0 {
		return r.Reason
	}
	return fmt.Sprintf("connack %d: %s", r.Code, r.Reason)
}

func refuse(code byte, format string, args ...any) *refusal {
	return &refusal{Code: code, Reason: fmt.Sprintf(format, args...)}
}

// authenticate applies PROTOCOL.md §1 to a CONNECT. lookup finds a device by
// client id.
func authenticate(req connectRequest, now time.Time, lookup func(string) (Device, bool)) (Device, *refusal) {
	dev, ok := lookup(req.ClientID)
	if !ok {
		return Device{}, refuse(CodeIdentifierRejected,
			"unknown client id %q: it must be productId+deviceName of a device created with `hubsim device create`", req.ClientID)
	}
	if dev.Disabled {
		return dev, refuse(CodeNotAuthorized, "device %s/%s is disabled", dev.ProductID, dev.DeviceName)
	}
	if req.Username == "" {
		return dev, refuse(CodeBadCredentials, "no username: send {clientId};{appId};{connId};{expiry}")
	}
	u, err := core.ParseUsername(req.Username)
	if err != nil {
		return dev, refuse(CodeBadCredentials, "malformed username: %v", err)
	}
	if u.ClientID != req.ClientID {
		return dev, refuse(CodeIdentifierRejected, "username names client id %q but the CONNECT client id is %q", u.ClientID, req.ClientID)
	}
	if u.AppID != core.SDKAppID && u.AppID != altAppID {
		return dev, refuse(CodeBadCredentials, "username app id %q: use %s", u.AppID, core.SDKAppID)
	}
	if !validConnID(u.ConnID) {
		return dev, refuse(CodeBadCredentials, "username connection id %q: use 1 to 5 characters from [A-Za-z0-9]", u.ConnID)
	}
	if u.Expiry <= now.Unix() {
		return dev, refuse(CodeBadCredentials, "username expired at %d, hub time is %d: sign with a later expiry (check the device clock)",
			u.Expiry, now.Unix())
	}

	switch dev.AuthMode {
	case AuthCert:
		if !req.TLS {
			return dev, refuse(CodeNotAuthorized, "cert device %s/%s connected without TLS (plain TCP or ws): use the TLS port (or wss) with the device certificate",
				dev.ProductID, dev.DeviceName)
		}
		if req.PeerCert == nil {
			return dev, refuse(CodeNotAuthorized, "cert device %s/%s presented no client certificate: configure devCertFile and devPrivateKeyFile",
				dev.ProductID, dev.DeviceName)
		}
		if req.PeerCert.Subject.CommonName != req.ClientID {
			return dev, refuse(CodeNotAuthorized, "client certificate CN %q does not match client id %q: use this device's own certificate",
				req.PeerCert.Subject.CommonName, req.ClientID)
		}
		return dev, nil
	default:
		if len(req.Password) == 0 {
			return dev, refuse(CodeBadCredentials, "key device sent no password: send hex(HMAC(secret, username));hmacsha1 (or ;hmacsha256)")
		}
		secret, err := base64.StdEncoding.DecodeString(dev.Secret)
		if err != nil {
			return dev, refuse(CodeBadCredentials, "device secret in the registry is not base64; recreate the device")
		}
		if err := core.VerifyPassword(secret, req.Username, string(req.Password)); err != nil {
			if errors.Is(err, core.ErrBadSignature) {
				return dev, refuse(CodeBadCredentials, "password signature does not match: wrong device secret (or the username was changed after signing)")
			}
			// The error text may quote the password; it is not repeated.
			return dev, refuse(CodeBadCredentials, "malformed password: send {lowercase hex HMAC};hmacsha256 or ;hmacsha1")
		}
		return dev, nil
	}
}

func validConnID(s string) bool {
	if len(s) < 1 || len(s) > 5 {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}
