package dynreg

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Encryption types of a registration answer's payload.
const (
	TypeCert = 1 // a client certificate and key
	TypeKey  = 2 // a device secret (PSK)
)

// maxPayload bounds the decoded payload (the SDK's buffer is 5 KiB for
// certificates; allow some room).
const maxPayload = 16 << 10

// ErrBadAnswer is wrapped by errors about an answer that cannot be used:
// not JSON, not decryptable, or without credentials. Nothing is written
// when it happens.
var ErrBadAnswer = errors.New("dynreg: unusable answer")

// Response is the hub's answer before decryption.
type Response struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Len     int    `json:"len"`
	Payload string `json:"payload"`
}

// Credentials are what a successful registration yields.
type Credentials struct {
	// EncryptionType is TypeKey or TypeCert.
	EncryptionType int `json:"encryptionType"`
	// PSK is the base64 device secret (TypeKey).
	PSK string `json:"psk,omitempty"`
	// ClientCert and ClientKey are PEM texts (TypeCert).
	ClientCert string `json:"clientCert,omitempty"`
	ClientKey  string `json:"clientKey,omitempty"`
}

// String hides the secrets.
func (c Credentials) String() string {
	return fmt.Sprintf("dynreg.Credentials{encryptionType=%d, <redacted>}", c.EncryptionType)
}

// GoString hides the secrets.
func (c Credentials) GoString() string { return c.String() }

// Error is a non-zero code in the hub's answer.
type Error struct {
	Code    int
	Message string
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = "no message"
	}
	return fmt.Sprintf("dynreg: the hub refused the registration: code %d (%s): %s", e.Code, msg, Explain(e.Code))
}

// Explain says in plain words what a registration error code means and
// what to do about it.
func Explain(code int) string {
	switch code {
	case 1000:
		return "internal error of the hub; try again later"
	case 1004:
		return "the product does not exist; check productId in device_info.json"
	case 1006:
		return "the request's parameters are invalid; check productId and deviceName"
	case 1010:
		return "the signature check failed; productSecret in device_info.json is wrong (copy it from the console) or the clock is far off"
	case 1011:
		return "the product does not allow dynamic registration; enable it in the console"
	case 1012:
		return "the product's dynamic registration quota is used up; raise it in the console"
	case 1020:
		return "the product only registers pre-created devices; create the device in the console first"
	case 1021:
		return "the device is already registered (activated); it cannot be registered again — restore its credentials from the console or a backup"
	case 1031:
		return "the product's limit of auto-created devices is reached"
	}
	return "unknown code"
}

// ParseResponse decodes the hub's answer and decrypts its payload with the
// product secret. A non-zero code is returned as *Error. A payload that does
// not decrypt to credentials wraps ErrBadAnswer.
func ParseResponse(body []byte, productSecret string) (Credentials, error) {
	var r Response
	if err := json.Unmarshal(body, &r); err != nil {
		return Credentials{}, fmt.Errorf("%w: not the JSON answer of a registration endpoint (%v): %s", ErrBadAnswer, err, snippet(body))
	}
	if r.Code != 0 {
		return Credentials{}, &Error{Code: r.Code, Message: r.Message}
	}
	plain, err := Decrypt(r.Payload, r.Len, productSecret)
	if err != nil {
		return Credentials{}, err
	}
	var c Credentials
	if err := json.Unmarshal(plain, &c); err != nil {
		return Credentials{}, fmt.Errorf("%w: the decrypted payload is not JSON (is productSecret the one the hub knows?)", ErrBadAnswer)
	}
	switch c.EncryptionType {
	case TypeKey:
		if c.PSK == "" {
			return Credentials{}, fmt.Errorf("%w: encryptionType 2 without a psk", ErrBadAnswer)
		}
		if _, err := base64.StdEncoding.DecodeString(c.PSK); err != nil {
			return Credentials{}, fmt.Errorf("%w: the psk is not base64", ErrBadAnswer)
		}
	case TypeCert:
		// The SDK turns "\n" escapes that survived JSON into newlines.
		c.ClientCert = strings.ReplaceAll(c.ClientCert, `\n`, "\n")
		c.ClientKey = strings.ReplaceAll(c.ClientKey, `\n`, "\n")
		if !strings.Contains(c.ClientCert, "-----BEGIN") || !strings.Contains(c.ClientKey, "-----BEGIN") {
			return Credentials{}, fmt.Errorf("%w: encryptionType 1 without a PEM clientCert and clientKey", ErrBadAnswer)
		}
	default:
		return Credentials{}, fmt.Errorf("%w: encryptionType %d: expected 1 (certificate) or 2 (key)", ErrBadAnswer, c.EncryptionType)
	}
	return c, nil
}

// Decrypt base64-decodes payload and decrypts it with AES-128-CBC, key =
// the first 16 bytes of the product secret, IV = sixteen '0' bytes, and
// cuts the zero-padded plaintext to n bytes (n ≤ 0: up to the first NUL).
func Decrypt(payload string, n int, productSecret string) ([]byte, error) {
	if len(productSecret) < aes.BlockSize {
		return nil, fmt.Errorf("%w: productSecret has %d characters, at least %d are needed to decrypt the answer", ErrBadAnswer, len(productSecret), aes.BlockSize)
	}
	data, err := base64.StdEncoding.DecodeString(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: payload is not base64", ErrBadAnswer)
	}
	if len(data) == 0 || len(data)%aes.BlockSize != 0 || len(data) > maxPayload {
		return nil, fmt.Errorf("%w: payload of %d bytes is not a whole number of AES blocks (or over %d bytes)", ErrBadAnswer, len(data), maxPayload)
	}
	block, err := aes.NewCipher([]byte(productSecret[:aes.BlockSize]))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadAnswer, err)
	}
	plain := make([]byte, len(data))
	cipher.NewCBCDecrypter(block, iv()).CryptBlocks(plain, data)
	switch {
	case n > len(plain) || n < 0:
		return nil, fmt.Errorf("%w: len %d does not fit the %d-byte payload", ErrBadAnswer, n, len(plain))
	case n == 0:
		if i := bytes.IndexByte(plain, 0); i >= 0 {
			n = i
		} else {
			n = len(plain)
		}
	}
	return plain[:n], nil
}

// Encrypt is Decrypt's inverse (zero padding), for servers and tests.
func Encrypt(plain []byte, productSecret string) (string, error) {
	if len(productSecret) < aes.BlockSize {
		return "", fmt.Errorf("dynreg: productSecret has %d characters, at least %d are needed", len(productSecret), aes.BlockSize)
	}
	block, err := aes.NewCipher([]byte(productSecret[:aes.BlockSize]))
	if err != nil {
		return "", err
	}
	padded := make([]byte, (len(plain)+aes.BlockSize-1)/aes.BlockSize*aes.BlockSize)
	if len(padded) == 0 {
		padded = make([]byte, aes.BlockSize)
	}
	copy(padded, plain)
	cipher.NewCBCEncrypter(block, iv()).CryptBlocks(padded, padded)
	return base64.StdEncoding.EncodeToString(padded), nil
}

func iv() []byte { return bytes.Repeat([]byte{'0'}, aes.BlockSize) }

func snippet(b []byte) string {
	const limit = 80
	s := strings.ToValidUTF8(string(b), "?")
	if len(s) > limit {
		s = s[:limit] + "..."
	}
	return fmt.Sprintf("%q", s)
}
