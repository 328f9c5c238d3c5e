package core

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const vectorUsername = "ABCDEFGHIJdevice_01;21010406;a1B2c;9223372036854775807"

// The vectors below were computed with OpenSSL 3.0, independently of Go:
//
//	username='ABCDEFGHIJdevice_01;21010406;a1B2c;9223372036854775807'
//	hexkey=$(printf 'iotd-test-secret-0123' | xxd -p | tr -d '\n')
//	printf '%s' "$username" | openssl dgst -sha256 -mac HMAC -macopt hexkey:$hexkey
//	printf '%s' "$username" | openssl dgst -sha1 -mac HMAC -macopt hexkey:$hexkey
const (
	vectorSHA256 = "556f6747f56d8d26548096e3063146d7cf40a5d7d7c3ff686e1bd5eb7e3cd1df"
	vectorSHA1   = "80c9cd029f6481d0d39ce9276794786692db3acb"
)

func TestSignUsernameOpenSSLVectors(t *testing.T) {
	tests := []struct {
		name   string
		method SignMethod
		want   string
	}{
		{"sha256", HMACSHA256, vectorSHA256 + ";hmacsha256"},
		{"default is sha1, the SDKs' method", "", vectorSHA1 + ";hmacsha1"},
		{"sha1", HMACSHA1, vectorSHA1 + ";hmacsha1"},
		{"unknown gives nothing", "hmacmd5", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, SignUsername([]byte(testSecretRaw), vectorUsername, tt.method))
		})
	}
}

// independentHMAC computes the password with crypto/hmac directly.
func independentHMAC(h func() hash.Hash, key []byte, msg string) string {
	m := hmac.New(h, key)
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

func fixedNow() time.Time { return time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC) }

// connIDBytes drives the connId draw: pairs (class, index) with one rejected
// byte (255 ≥ 255 for the 3 classes) to exercise rejection sampling.
var connIDBytes = []byte{0, 1, 1, 2, 2, 3, 0, 25, 255, 1, 0}

func TestMQTTCredentials(t *testing.T) {
	key := []byte(testSecretRaw)
	tests := []struct {
		name         string
		opts         CredentialOptions
		wantUsername string
		wantPassword string
		wantExpires  time.Time
	}{
		{
			name:         "defaults: sha1, no expiry",
			opts:         CredentialOptions{},
			wantUsername: "S3EUVBRJLBtest_device;21010406;Bc3Za;9223372036854775807",
			wantPassword: independentHMAC(sha1.New, key, "S3EUVBRJLBtest_device;21010406;Bc3Za;9223372036854775807") + ";hmacsha1",
		},
		{
			name:         "sha256 with one hour expiry",
			opts:         CredentialOptions{Method: HMACSHA256, Expiry: time.Hour},
			wantUsername: "S3EUVBRJLBtest_device;21010406;Bc3Za;1714982889",
			wantPassword: independentHMAC(sha256.New, key, "S3EUVBRJLBtest_device;21010406;Bc3Za;1714982889") + ";hmacsha256",
			wantExpires:  time.Unix(1714982889, 0),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts
			o.Now = fixedNow
			o.Rand = bytes.NewReader(connIDBytes)
			c, err := MQTTCredentials(validKeyDevice(), o)
			require.NoError(t, err)
			assert.Equal(t, "S3EUVBRJLBtest_device", c.ClientID)
			assert.Equal(t, "Bc3Za", c.ConnID)
			assert.Equal(t, tt.wantUsername, c.Username)
			assert.Equal(t, tt.wantPassword, c.Password)
			assert.True(t, tt.wantExpires.Equal(c.ExpiresAt), "expires %v, want %v", c.ExpiresAt, tt.wantExpires)
			assert.NoError(t, VerifyPassword(key, c.Username, c.Password))
		})
	}
}

func TestMQTTCredentialsExpiryFollowsClock(t *testing.T) {
	// The clock is the caller's (corrected by time sync), not time.Now.
	now := time.Unix(2_000_000_000, 0)
	c, err := MQTTCredentials(validKeyDevice(), CredentialOptions{Expiry: 90 * time.Second, Now: func() time.Time { return now }})
	require.NoError(t, err)
	u, err := ParseUsername(c.Username)
	require.NoError(t, err)
	assert.Equal(t, int64(2_000_000_090), u.Expiry)
	assert.False(t, u.Expired(now.Add(90*time.Second)))
	assert.True(t, u.Expired(now.Add(91*time.Second)))
}

func TestMQTTCredentialsCertDevice(t *testing.T) {
	d := &DeviceInfo{AuthMode: AuthCert, ProductID: "S3EUVBRJLB", DeviceName: "cert_device",
		CertDeviceInfo: CertDeviceInfo{DevCertFile: "c.crt", DevPrivateKeyFile: "k.key"}}
	c, err := MQTTCredentials(d, CredentialOptions{})
	require.NoError(t, err)
	assert.Equal(t, "", c.Password, "mutual TLS authenticates a CERT device")
	assert.Regexp(t, `^S3EUVBRJLBcert_device;21010406;[A-Za-z0-9]{5};9223372036854775807$`, c.Username)
	assert.True(t, c.ExpiresAt.IsZero())
}

func TestMQTTCredentialsErrors(t *testing.T) {
	bad := validKeyDevice()
	bad.DeviceName = strings.Repeat("n", 53)
	tests := []struct {
		name string
		d    *DeviceInfo
		o    CredentialOptions
		err  string
	}{
		{"nil device", nil, CredentialOptions{}, "core: credentials: nil DeviceInfo"},
		{"invalid device", bad, CredentialOptions{}, "device_info.json: deviceName: 53 characters, the limit is 48"},
		{"unknown method", validKeyDevice(), CredentialOptions{Method: "md5"},
			`core: credentials: core: unknown password signing method "md5": use "hmacsha256" or "hmacsha1"`},
		{"negative expiry", validKeyDevice(), CredentialOptions{Expiry: -time.Second},
			"core: credentials: expiry -1s is negative: use 0 for no expiry"},
		{"randomness fails", validKeyDevice(), CredentialOptions{Rand: bytes.NewReader([]byte{0, 1})},
			"core: credentials: connId: EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := MQTTCredentials(tt.d, tt.o)
			assert.EqualError(t, err, tt.err)
		})
	}
}

func TestConnIDAlphabetLengthFreshness(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z0-9]{5}$`)
	seen := map[string]bool{}
	const n = 300
	for range n {
		c, err := MQTTCredentials(validKeyDevice(), CredentialOptions{})
		require.NoError(t, err)
		require.Regexp(t, re, c.ConnID)
		require.True(t, strings.Contains(c.Username, ";"+c.ConnID+";"))
		seen[c.ConnID] = true
	}
	// 62^5 ≈ 9e8 values: a repeat among 300 is a ~5e-5 event.
	assert.GreaterOrEqual(t, len(seen), n-1, "every connection gets a fresh connId")
}

func TestConnIDClassesUniform(t *testing.T) {
	// The C SDK picks the class first, so digits are a third of the
	// characters, not 10/62. Seeded, so the outcome is fixed.
	r := rand.NewChaCha8([32]byte{1, 2, 3})
	var digits, upper, total int
	for range 2000 {
		id, err := newConnID(r)
		require.NoError(t, err)
		for _, c := range id {
			total++
			switch {
			case c >= '0' && c <= '9':
				digits++
			case c >= 'A' && c <= 'Z':
				upper++
			}
		}
	}
	assert.InDelta(t, 1.0/3, float64(digits)/float64(total), 0.03)
	assert.InDelta(t, 1.0/3, float64(upper)/float64(total), 0.03)
}

func TestParseUsername(t *testing.T) {
	ok := []struct {
		name string
		s    string
		want Username
	}{
		{"C SDK default", vectorUsername, Username{"ABCDEFGHIJdevice_01", "21010406", "a1B2c", NoExpiry}},
		{"doc app id, 32-bit never", "P1dev:1-x;12010126;ZZZZZ;2147483647", Username{"P1dev:1-x", "12010126", "ZZZZZ", 2147483647}},
		{"zero expiry", "Pd;1;abcde;0", Username{"Pd", "1", "abcde", 0}},
		{"short conn id from another client", "Pd;21010406;x;1700000000", Username{"Pd", "21010406", "x", 1700000000}},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			u, err := ParseUsername(tt.s)
			require.NoError(t, err)
			assert.Equal(t, tt.want, u)
			assert.Equal(t, tt.s, u.String())
		})
	}
	bad := []struct {
		name string
		s    string
		err  string
	}{
		{"empty", "", `core: username "": want 4 fields {clientId};{sdkAppId};{connId};{expiry}, found 1`},
		{"truncated", "Pdev;21010406;abcde", `core: username "Pdev;21010406;abcde": want 4 fields {clientId};{sdkAppId};{connId};{expiry}, found 3`},
		{"extra field", "Pdev;21010406;abcde;1;2", `core: username "Pdev;21010406;abcde;1;2": want 4 fields {clientId};{sdkAppId};{connId};{expiry}, found 5`},
		{"empty client id", ";21010406;abcde;1", `core: username ";21010406;abcde;1": clientId is empty`},
		{"long client id", strings.Repeat("c", 59) + ";1;abcde;1", `core: username "` + strings.Repeat("c", 40) + `"...: clientId is 59 characters, the limit is 58`},
		{"client id slash", "P/dev;1;abcde;1", `core: username "P/dev;1;abcde;1": clientId has '/' at offset 1; allowed are letters, digits, ':', '_' and '-'`},
		{"app id letters", "Pdev;2101x406;abcde;1", `core: username "Pdev;2101x406;abcde;1": sdkAppId "2101x406" is not 1 to 10 digits`},
		{"app id empty", "Pdev;;abcde;1", `core: username "Pdev;;abcde;1": sdkAppId "" is not 1 to 10 digits`},
		{"conn id empty", "Pdev;1;;1", `core: username "Pdev;1;;1": connId "" is not 1 to 5 letters or digits`},
		{"conn id long", "Pdev;1;abcdef;1", `core: username "Pdev;1;abcdef;1": connId "abcdef" is not 1 to 5 letters or digits`},
		{"conn id symbol", "Pdev;1;ab-de;1", `core: username "Pdev;1;ab-de;1": connId "ab-de" is not 1 to 5 letters or digits`},
		{"expiry empty", "Pdev;1;abcde;", `core: username "Pdev;1;abcde;": expiry "" is not a decimal number without sign or leading zeros`},
		{"expiry negative", "Pdev;1;abcde;-5", `core: username "Pdev;1;abcde;-5": expiry "-5" is not a decimal number without sign or leading zeros`},
		{"expiry plus", "Pdev;1;abcde;+5", `core: username "Pdev;1;abcde;+5": expiry "+5" is not a decimal number without sign or leading zeros`},
		{"expiry leading zero", "Pdev;1;abcde;05", `core: username "Pdev;1;abcde;05": expiry "05" is not a decimal number without sign or leading zeros`},
		{"expiry overflow", "Pdev;1;abcde;9223372036854775808", `core: username "Pdev;1;abcde;9223372036854775808": expiry "9223372036854775808" does not fit in 64 bits`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseUsername(tt.s)
			assert.EqualError(t, err, tt.err)
		})
	}
}

func TestUsernameExpiresAt(t *testing.T) {
	assert.True(t, Username{Expiry: NoExpiry}.ExpiresAt().IsZero())
	assert.True(t, Username{Expiry: 2147483647}.ExpiresAt().IsZero(), "a 32-bit C SDK's LONG_MAX means never too")
	assert.False(t, Username{Expiry: NoExpiry}.Expired(time.Unix(1<<40, 0)))
	assert.Equal(t, time.Unix(1714982889, 0), Username{Expiry: 1714982889}.ExpiresAt())
}

func TestVerifyPassword(t *testing.T) {
	key := []byte(testSecretRaw)
	c, err := MQTTCredentials(validKeyDevice(), CredentialOptions{Method: HMACSHA256})
	require.NoError(t, err)
	sha1pw := SignUsername(key, c.Username, HMACSHA1)
	hexPart := strings.TrimSuffix(c.Password, ";hmacsha256")
	flipped := []byte(hexPart)
	flipped[7] ^= 1
	tests := []struct {
		name     string
		secret   []byte
		username string
		password string
		is       error // nil: accepted
		err      string
	}{
		{"as produced", key, c.Username, c.Password, nil, ""},
		{"sha1 as produced", key, c.Username, sha1pw, nil, ""},
		{"openssl vector", key, vectorUsername, vectorSHA256 + ";hmacsha256", nil, ""},
		{"tampered username", key, strings.Replace(c.Username, c.ConnID, "AAAAA", 1), c.Password, ErrBadSignature, ""},
		{"tampered expiry", key, strings.TrimSuffix(c.Username, "7") + "6", c.Password, ErrBadSignature, ""},
		{"tampered digest", key, c.Username, string(flipped) + ";hmacsha256", ErrBadSignature, ""},
		{"wrong secret", []byte("another secret"), c.Username, c.Password, ErrBadSignature, ""},
		{"sha1 digest labelled sha256", key, c.Username, strings.TrimSuffix(sha1pw, ";hmacsha1") + ";hmacsha256", ErrBadSignature, ""},
		{"sha256 digest labelled sha1", key, c.Username, hexPart + ";hmacsha1", ErrBadSignature, ""},
		{"upper-case hex", key, c.Username, strings.ToUpper(hexPart) + ";hmacsha256", ErrBadSignature, ""},
		{"truncated digest", key, c.Username, hexPart[:40] + ";hmacsha256", ErrBadSignature, ""},
		{"empty", key, c.Username, "", ErrUnknownSignMethod,
			`core: password has no ";hmacsha256" or ";hmacsha1" suffix: core: unknown password signing method`},
		{"no suffix", key, c.Username, hexPart, ErrUnknownSignMethod,
			`core: password has no ";hmacsha256" or ";hmacsha1" suffix: core: unknown password signing method`},
		{"suffix cut", key, c.Username, hexPart + ";hmacsha2", ErrUnknownSignMethod,
			`core: unknown password signing method "hmacsha2": want "hmacsha256" or "hmacsha1"`},
		{"upper-case method", key, c.Username, hexPart + ";HMACSHA256", ErrUnknownSignMethod,
			`core: unknown password signing method "HMACSHA256": want "hmacsha256" or "hmacsha1"`},
		{"odd suffix not quoted", key, c.Username, "x;my secret pass", ErrUnknownSignMethod,
			`core: unknown password signing method: want "hmacsha256" or "hmacsha1" after the last ';'`},
		{"empty secret", nil, c.Username, c.Password, nil, "core: verify password: empty secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyPassword(tt.secret, tt.username, tt.password)
			switch {
			case tt.err != "":
				assert.EqualError(t, err, tt.err)
				if tt.is != nil {
					assert.ErrorIs(t, err, tt.is)
				}
			case tt.is != nil:
				assert.ErrorIs(t, err, tt.is)
			default:
				assert.NoError(t, err)
			}
		})
	}
	assert.False(t, errors.Is(ErrBadSignature, ErrUnknownSignMethod))
}

func TestCredentialsRedaction(t *testing.T) {
	c, err := MQTTCredentials(validKeyDevice(), CredentialOptions{Expiry: time.Hour})
	require.NoError(t, err)
	require.NotEmpty(t, c.Password)
	hexPart := strings.TrimSuffix(c.Password, ";hmacsha1")
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("connect", "creds", c, "ptr", &c)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("connect", "creds", c)
	outputs := map[string]string{
		"String":      c.String(),
		"%v":          fmt.Sprintf("%v", c),
		"%+v":         fmt.Sprintf("%+v", c),
		"%#v":         fmt.Sprintf("%#v", c),
		"%s":          fmt.Sprintf("%s", c),
		"%q":          fmt.Sprintf("%q", c),
		"%d":          fmt.Sprintf("%d", c),
		"%x":          fmt.Sprintf("%x", c),
		"pointer %+v": fmt.Sprintf("%+v", &c),
		"in a struct": fmt.Sprintf("%+v", struct{ C Credentials }{c}),
		"in a map":    fmt.Sprintf("%v", map[string]Credentials{"a": c}),
		"slog":        logged.String(),
	}
	for name, out := range outputs {
		t.Run(name, func(t *testing.T) {
			assert.NotContains(t, out, hexPart)
			assert.NotContains(t, out, testSecretText)
		})
	}
	assert.Equal(t, "clientId=S3EUVBRJLBtest_device username="+c.Username+" password=<redacted>", c.String())
	assert.Contains(t, logged.String(), `"clientId":"S3EUVBRJLBtest_device"`)
	assert.Equal(t, "clientId=a username=b password=<none>", Credentials{ClientID: "a", Username: "b"}.String())
}
