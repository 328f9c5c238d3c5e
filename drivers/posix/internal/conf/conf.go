// Package conf holds what the POSIX drivers share for configuration: strict
// JSON decoding that names unknown keys, a duration type written as "30s",
// and loading of PEM trust anchors and key pairs.
package conf

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/iotd/iotd/core"
)

// Decode parses data, a JSON object, into v (a pointer to a struct with json
// tags) strictly: a key that is not one of the struct's json names, spelled
// exactly, is an error naming the key; so is a value of the wrong type and
// anything after the object. Empty data, whitespace or null leave v as is.
// Errors are *core.ConfigError with Source "<prefix>: config".
func Decode(prefix string, data []byte, v any) error {
	src := prefix + ": config"
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &raw); err != nil {
		return &core.ConfigError{Source: src, Msg: "not a JSON object", Err: err}
	}
	known := jsonNames(reflect.TypeOf(v).Elem())
	for key := range raw {
		if !known[key] {
			return &core.ConfigError{Source: src, Msg: fmt.Sprintf("unknown key %q (known keys: %s)", key, strings.Join(slices.Sorted(maps.Keys(known)), ", "))}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return &core.ConfigError{Source: src, Field: te.Field, Msg: fmt.Sprintf("want %s, got JSON %s", te.Type, te.Value)}
		}
		var fe *FieldError
		if errors.As(err, &fe) {
			return &core.ConfigError{Source: src, Msg: fe.Error()}
		}
		return &core.ConfigError{Source: src, Msg: "invalid", Err: err}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &core.ConfigError{Source: src, Msg: "unexpected data after the JSON object"}
	}
	return nil
}

// Invalid returns the error for a value that decoded but is not acceptable.
func Invalid(prefix, field, msg string) error {
	return &core.ConfigError{Source: prefix + ": config", Field: field, Msg: msg}
}

func jsonNames(t reflect.Type) map[string]bool {
	names := make(map[string]bool)
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		names[name] = true
	}
	return names
}

// FieldError is returned by a field's UnmarshalJSON; Decode reports its text.
type FieldError struct{ Msg string }

func (e *FieldError) Error() string { return e.Msg }

// Duration is a time.Duration written in JSON as a Go duration string such
// as "30s" or "1m30s".
type Duration time.Duration

// UnmarshalJSON accepts a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return &FieldError{Msg: fmt.Sprintf("duration %s: want a string such as \"30s\"", b)}
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return &FieldError{Msg: fmt.Sprintf("duration %q: want a string such as \"30s\" or \"1m30s\"", s)}
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// String returns the duration in Go syntax.
func (d Duration) String() string { return time.Duration(d).String() }

// LoadRoots reads a PEM bundle of trusted CA certificates. An empty file
// name returns nil, which crypto/tls and pion read as "the system roots".
func LoadRoots(prefix, file string) (*x509.CertPool, error) {
	return Roots(prefix, file, "", false)
}

// Roots builds the pool of trusted CAs from a PEM file, PEM text (ca_pem)
// and, when system is set, the system roots. With neither file nor text it
// returns nil, which crypto/tls and pion read as "the system roots".
func Roots(prefix, file, pemText string, system bool) (*x509.CertPool, error) {
	if file == "" && pemText == "" {
		return nil, nil
	}
	pool := x509.NewCertPool()
	if system {
		// A board without a CA store has an empty system pool: the
		// configured CAs still apply.
		if sp, err := x509.SystemCertPool(); err == nil {
			pool = sp
		}
	}
	if file != "" {
		pem, err := os.ReadFile(file)
		if err != nil {
			return nil, &core.ConfigError{Source: prefix, Field: "ca_file", Msg: "cannot read the CA bundle", Err: err}
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, &core.ConfigError{Source: prefix, Field: "ca_file", Msg: fmt.Sprintf("%s holds no PEM CERTIFICATE block; point ca_file at the CA certificate in PEM form", file)}
		}
	}
	if pemText != "" && !pool.AppendCertsFromPEM([]byte(pemText)) {
		return nil, &core.ConfigError{Source: prefix, Field: "ca_pem", Msg: "holds no PEM CERTIFICATE block"}
	}
	return pool, nil
}

// LoadKeyPair reads a client certificate and its private key. Empty names
// return nil and no error.
func LoadKeyPair(prefix, certFile, keyFile string) ([]tls.Certificate, error) {
	if certFile == "" && keyFile == "" {
		return nil, nil
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		// The tls error never contains key material, only what is wrong.
		return nil, &core.ConfigError{Source: prefix, Field: "cert_file", Msg: "cannot load the client certificate and key", Err: err}
	}
	return []tls.Certificate{pair}, nil
}

// CheckKeyPair validates that cert_file and key_file are set together.
func CheckKeyPair(prefix, certFile, keyFile string) error {
	if (certFile == "") != (keyFile == "") {
		return Invalid(prefix, "cert_file", "cert_file and key_file must be set together (the client certificate and its private key)")
	}
	return nil
}
