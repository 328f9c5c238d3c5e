package coap

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/plgd-dev/go-coap/v3/message/codes"
)

// sdkAppID is the C SDK's application id, the first field of the auth
// payload (PROTOCOL.md §1.2).
const sdkAppID = "21010406"

// AuthPath returns the Uri-Path of the auth request for device pid/dn.
func AuthPath(pid, dn string) string { return pid + "/" + dn + "/txauth9w0BAQsFA" }

// AuthPayloadLen is the length of the auth request's payload: the C SDK
// sizes it as len("21010406") + COAP_MAX_CONN_ID_LEN (6) + 2 = 16
// (sdk_src/protocol/coap/coap_client_auth.c, coap_client_auth).
const AuthPayloadLen = 16

// AuthPayload returns the auth request's payload for connID (5 characters)
// byte for byte as the C SDK sends it: the 14 characters
// "21010406;{connId}", their NUL, and one more byte, AuthPayloadLen in all.
// The SDK mallocs 16 bytes, snprintf's the text and its NUL into them and
// sends all 16 (sdk_src/protocol/coap/coap_client_auth.c), so its last byte
// is uninitialised; iotd sends 0x00 there. Whether the hub also takes the
// bare 14 characters is unknown (PROTOCOL.md §8.3 item 11, §9), so iotd
// does not rely on it. A longer connID is cut as snprintf would cut it.
func AuthPayload(connID string) []byte {
	p := make([]byte, AuthPayloadLen)
	copy(p[:AuthPayloadLen-1], sdkAppID+";"+connID)
	return p
}

const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// newConnID returns 5 random alphanumeric characters.
func newConnID() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = alnum[int(b[i])%len(alnum)]
	}
	return string(b[:])
}

// maxTokenLen bounds the auth token accepted from the hub; the hub's are
// 10 characters.
const maxTokenLen = 255

// auth runs the auth exchange and returns the token. A refusal is a
// *StatusError; a 2.05 without a usable token is an error too.
func (e *engine) auth(ctx context.Context) (string, error) {
	path := AuthPath(e.cfg.ProductID, e.cfg.DeviceName)
	r, err := e.roundTrip(ctx, Request{Path: path, Payload: AuthPayload(newConnID())}, true)
	if err != nil {
		return "", fmt.Errorf("coap: auth: %w", err)
	}
	if r.Code != codes.Content {
		return "", &authError{&StatusError{Path: path, Code: r.Code, Payload: printable(r.Payload)}}
	}
	if len(r.Payload) == 0 || len(r.Payload) > maxTokenLen {
		return "", fmt.Errorf("coap: auth: the hub answered 2.05 with a token of %d bytes; expected 1 to %d", len(r.Payload), maxTokenLen)
	}
	return string(r.Payload), nil
}

// authError is a refused auth: the device's credentials or identity are
// wrong, which a retry does not fix.
type authError struct{ *StatusError }

func (e *authError) Error() string {
	return "coap: auth refused: the hub answered " + CodeString(e.Code) + " to the auth request: check productId, deviceName and deviceSecret" + suffix(e.Payload)
}

func (e *authError) Unwrap() error { return e.StatusError }

func suffix(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}

// printable returns p when it is short printable ASCII, else a summary,
// so that an error never carries binary junk.
func printable(p []byte) string {
	if len(p) > 200 {
		return fmt.Sprintf("(%d bytes)", len(p))
	}
	for _, c := range p {
		if c < 0x20 || c > 0x7e {
			return fmt.Sprintf("(%d bytes)", len(p))
		}
	}
	return string(p)
}
