package core

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"
)

// SignMethod is the HMAC of an MQTT password, named as in its ";method"
// suffix.
type SignMethod string

const (
	// HMACSHA256 is accepted by the hub (Tencent MQTT access doc), but no
	// SDK sends it over TLS on 8883.
	HMACSHA256 SignMethod = "hmacsha256"
	// HMACSHA1 is what the SDKs send: the C SDK in its no-TLS build, the
	// Python SDK over TLS with a verified server, as iotd connects. iotd's
	// default, since the hub's acceptance of the other over TLS is
	// unconfirmed.
	HMACSHA1 SignMethod = "hmacsha1"
)

func (m SignMethod) hash() func() hash.Hash {
	switch m {
	case HMACSHA256:
		return sha256.New
	case HMACSHA1:
		return sha1.New
	}
	return nil
}

// SDKAppID is the sdkAppId field of the MQTT username (the C SDK's
// QCLOUD_IOT_DEVICE_SDK_APPID).
const SDKAppID = "21010406"

// NoExpiry is the username expiry meaning "never": LONG_MAX on LP64. iotd
// always writes this value, unlike the C SDK whose value depends on the
// width of C's long.
const NoExpiry int64 = math.MaxInt64

// noExpiry32 is what a C SDK built where long is 32 bits writes for "never".
const noExpiry32 int64 = math.MaxInt32

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// connIDLen is the length of the username's connId (MAX_CONN_ID_LEN - 1).
const connIDLen = 5

// maxClientIDLen is the longest product id + device name.
const maxClientIDLen = MaxProductIDLen + MaxDeviceNameLen

// ErrBadSignature means a password's HMAC does not match the username and
// secret: a wrong secret, or a username altered after signing.
var ErrBadSignature = errors.New("core: password signature does not match")

// ErrUnknownSignMethod means a password's ";method" suffix is missing or
// names no method iotd knows.
var ErrUnknownSignMethod = errors.New("core: unknown password signing method")

// CredentialOptions tunes [MQTTCredentials]. The zero value gives an
// HMAC-SHA1 password with no expiry, the time from time.Now and
// randomness from crypto/rand.
type CredentialOptions struct {
	// Method signs the password; "" means HMACSHA1.
	Method SignMethod
	// Expiry is how long the username stays valid. 0 writes NoExpiry; a
	// positive value writes now+Expiry in epoch seconds.
	Expiry time.Duration
	// Now is the clock; the daemon passes one corrected by time sync, since
	// the hub rejects an expiry in the past.
	Now func() time.Time
	// Rand is the source of the connId.
	Rand io.Reader
}

// Credentials are what a device presents in an MQTT CONNECT.
type Credentials struct {
	ClientID string
	Username string
	// Password is "hex;method" for KEY devices and "" for CERT devices,
	// which mutual TLS authenticates.
	Password string
	ConnID   string
	// ExpiresAt is when the username stops being accepted; zero means never.
	ExpiresAt time.Time
}

// String describes c without the password.
func (c Credentials) String() string {
	pw := "<none>"
	if c.Password != "" {
		pw = "<redacted>"
	}
	return fmt.Sprintf("clientId=%s username=%s password=%s", c.ClientID, c.Username, pw)
}

// GoString keeps %#v from printing the password.
func (c Credentials) GoString() string { return "core.Credentials{" + c.String() + "}" }

// Format prints String for every verb (%#v: GoString), so no verb reveals
// the password.
func (c Credentials) Format(f fmt.State, verb rune) { formatRedacted(f, verb, c) }

// LogValue logs c without the password.
func (c Credentials) LogValue() slog.Value {
	pw := "<none>"
	if c.Password != "" {
		pw = "<redacted>"
	}
	attrs := []slog.Attr{
		slog.String("clientId", c.ClientID),
		slog.String("username", c.Username),
		slog.String("connId", c.ConnID),
		slog.String("password", pw),
	}
	if !c.ExpiresAt.IsZero() {
		attrs = append(attrs, slog.Time("expires", c.ExpiresAt))
	}
	return slog.GroupValue(attrs...)
}

// MQTTCredentials builds the CONNECT credentials of d: client id, username
// "{clientId};21010406;{connId};{expiry}" with a fresh random connId, and
// for KEY devices the password HMAC(base64-decoded secret, username) in
// lowercase hex plus ";hmacsha256" or ";hmacsha1".
func MQTTCredentials(d *DeviceInfo, o CredentialOptions) (Credentials, error) {
	if d == nil {
		return Credentials{}, errors.New("core: credentials: nil DeviceInfo")
	}
	if err := d.Validate(); err != nil {
		return Credentials{}, err
	}
	m := o.Method
	if m == "" {
		m = HMACSHA1
	}
	if m.hash() == nil {
		return Credentials{}, fmt.Errorf("core: credentials: %w %s: use %q or %q", ErrUnknownSignMethod, quoteShort(string(m)), HMACSHA256, HMACSHA1)
	}
	if o.Expiry < 0 {
		return Credentials{}, fmt.Errorf("core: credentials: expiry %v is negative: use 0 for no expiry", o.Expiry)
	}
	now, rnd := o.Now, o.Rand
	if now == nil {
		now = time.Now
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	connID, err := newConnID(rnd)
	if err != nil {
		return Credentials{}, fmt.Errorf("core: credentials: connId: %w", err)
	}
	c := Credentials{ClientID: d.ClientID(), ConnID: connID}
	expiry := NoExpiry
	if o.Expiry > 0 {
		expiry = now().Add(o.Expiry).Unix()
		c.ExpiresAt = time.Unix(expiry, 0)
	}
	c.Username = Username{ClientID: c.ClientID, AppID: SDKAppID, ConnID: connID, Expiry: expiry}.String()
	if d.IsCert() {
		return c, nil
	}
	key, err := d.SecretKey()
	if err != nil {
		return Credentials{}, err
	}
	c.Password = SignUsername(key, c.Username, m)
	return c, nil
}

// newConnID draws connIDLen characters as the C SDK does: a class (upper,
// lower, digit) uniformly, then a character of it uniformly.
func newConnID(r io.Reader) (string, error) {
	classes := [...]string{alnum[:26], alnum[26:52], alnum[52:]}
	b := make([]byte, connIDLen)
	for i := range b {
		ci, err := uniform(r, len(classes))
		if err != nil {
			return "", err
		}
		j, err := uniform(r, len(classes[ci]))
		if err != nil {
			return "", err
		}
		b[i] = classes[ci][j]
	}
	return string(b), nil
}

// uniform returns an unbiased index in [0, n), n ≤ 256, by rejection.
func uniform(r io.Reader, n int) (int, error) {
	limit := 256 - 256%n
	var b [1]byte
	for {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, err
		}
		if int(b[0]) < limit {
			return int(b[0]) % n, nil
		}
	}
}

// Username is a parsed MQTT username.
type Username struct {
	ClientID, AppID, ConnID string
	// Expiry is epoch seconds (NoExpiry or 2147483647 for never; the Python
	// SDK sends milliseconds).
	Expiry int64
}

// String formats u as the hub expects it.
func (u Username) String() string {
	return u.ClientID + ";" + u.AppID + ";" + u.ConnID + ";" + strconv.FormatInt(u.Expiry, 10)
}

// ExpiresAt is when u stops being valid; zero for the "never" values.
func (u Username) ExpiresAt() time.Time {
	if u.Expiry == NoExpiry || u.Expiry == noExpiry32 {
		return time.Time{}
	}
	return time.Unix(u.Expiry, 0)
}

// Expired reports whether u is past its expiry at now.
func (u Username) Expired(now time.Time) bool {
	at := u.ExpiresAt()
	return !at.IsZero() && now.After(at)
}

// ParseUsername parses "{clientId};{sdkAppId};{connId};{expiry}" strictly:
// clientId of letters, digits, ':', '_', '-' (at most 58), sdkAppId of
// digits, connId of 1 to 5 letters or digits (SDKs send 5), expiry a decimal int64
// without sign or leading zeros. What it accepts, String gives back
// unchanged.
func ParseUsername(s string) (Username, error) {
	f := strings.Split(s, ";")
	if len(f) != 4 {
		return Username{}, fmt.Errorf("core: username %s: want 4 fields {clientId};{sdkAppId};{connId};{expiry}, found %d", quoteShort(s), len(f))
	}
	u := Username{ClientID: f[0], AppID: f[1], ConnID: f[2]}
	bad := func(field, msg string) (Username, error) {
		return Username{}, fmt.Errorf("core: username %s: %s %s", quoteShort(s), field, msg)
	}
	switch {
	case u.ClientID == "":
		return bad("clientId", "is empty")
	case len(u.ClientID) > maxClientIDLen:
		return bad("clientId", fmt.Sprintf("is %d characters, the limit is %d", len(u.ClientID), maxClientIDLen))
	}
	for i, c := range u.ClientID {
		if !validNameChar(c, deviceNameChars) {
			return bad("clientId", fmt.Sprintf("has %q at offset %d; allowed are %s", c, i, deviceNameChars))
		}
	}
	if u.AppID == "" || len(u.AppID) > 10 || strings.Trim(u.AppID, "0123456789") != "" {
		return bad("sdkAppId", fmt.Sprintf("%s is not 1 to 10 digits", quoteShort(u.AppID)))
	}
	if u.ConnID == "" || len(u.ConnID) > connIDLen || strings.Trim(u.ConnID, alnum) != "" {
		return bad("connId", fmt.Sprintf("%s is not 1 to %d letters or digits", quoteShort(u.ConnID), connIDLen))
	}
	e := f[3]
	if e == "" || strings.Trim(e, "0123456789") != "" || (len(e) > 1 && e[0] == '0') {
		return bad("expiry", fmt.Sprintf("%s is not a decimal number without sign or leading zeros", quoteShort(e)))
	}
	n, err := strconv.ParseInt(e, 10, 64)
	if err != nil {
		return bad("expiry", fmt.Sprintf("%s does not fit in 64 bits", quoteShort(e)))
	}
	u.Expiry = n
	return u, nil
}

// SignUsername returns the password for username: lowercase hex
// HMAC(secret, username), ";" and the method. m "" means HMACSHA1; an
// unknown method gives "", which no verifier accepts.
func SignUsername(secret []byte, username string, m SignMethod) string {
	if m == "" {
		m = HMACSHA1
	}
	h := m.hash()
	if h == nil {
		return ""
	}
	mac := hmac.New(h, secret)
	mac.Write([]byte(username))
	return hex.EncodeToString(mac.Sum(nil)) + ";" + string(m)
}

// VerifyPassword checks that password is SignUsername(secret, username, m)
// for the method m its suffix names, comparing in constant time. It returns
// an error wrapping ErrUnknownSignMethod for a missing or unknown suffix,
// and ErrBadSignature for anything else that does not match (including
// upper-case hex, which no SDK sends).
func VerifyPassword(secret []byte, username, password string) error {
	if len(secret) == 0 {
		return errors.New("core: verify password: empty secret")
	}
	i := strings.LastIndexByte(password, ';')
	if i < 0 {
		return fmt.Errorf("core: password has no \";hmacsha256\" or \";hmacsha1\" suffix: %w", ErrUnknownSignMethod)
	}
	m := SignMethod(password[i+1:])
	if m.hash() == nil {
		// Quote the suffix only when it looks like a method name: it is
		// part of a password, and a garbled one may hold anything.
		if len(m) == 0 || len(m) > 16 || strings.Trim(string(m), alnum) != "" {
			return fmt.Errorf("%w: want %q or %q after the last ';'", ErrUnknownSignMethod, HMACSHA256, HMACSHA1)
		}
		return fmt.Errorf("%w %q: want %q or %q", ErrUnknownSignMethod, string(m), HMACSHA256, HMACSHA1)
	}
	want := SignUsername(secret, username, m)
	if subtle.ConstantTimeCompare([]byte(want), []byte(password)) != 1 {
		return ErrBadSignature
	}
	return nil
}
