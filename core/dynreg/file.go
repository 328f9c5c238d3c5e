package dynreg

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/internal/pki"
)

// maxFile bounds what Load reads.
const maxFile = 64 << 10

// Seams for tests that simulate a crash or a full disk at the write.
var (
	writeFile      = pki.WriteFileAtomic
	saveDeviceInfo = core.SaveDeviceInfo
)

// File is a device_info.json read without requiring credentials, as it is
// before registration (core.LoadDeviceInfo refuses a KEY device without a
// secret).
type File struct {
	Path string
	// Info holds the identity as written; it is not validated.
	Info *core.DeviceInfo
	doc  map[string]json.RawMessage
}

// Load reads the device_info.json at path for registration.
func Load(path string) (*File, error) {
	src := filepath.Base(path)
	fh, err := os.Open(path)
	if err != nil {
		return nil, &core.ConfigError{Source: src, Msg: "cannot read the device identity", Err: err}
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxFile))
	if err != nil {
		return nil, &core.ConfigError{Source: src, Msg: "cannot read the device identity", Err: err}
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil || doc == nil {
		// The core parser gives the precise message.
		if _, perr := core.ParseDeviceInfo(data, src); perr != nil {
			return nil, perr
		}
		return nil, &core.ConfigError{Source: src, Msg: "must be a JSON object"}
	}
	var info core.DeviceInfo
	if err := json.Unmarshal(data, &info); err != nil {
		if _, perr := core.ParseDeviceInfo(data, src); perr != nil {
			return nil, perr
		}
		return nil, &core.ConfigError{Source: src, Msg: err.Error()}
	}
	return &File{Path: path, Info: &info, doc: doc}, nil
}

func unset(v string) bool { return v == "" || strings.HasPrefix(v, "YOUR_") }

// NeedsRegistration reports whether info lacks credentials: a KEY device
// (or one whose auth_mode is not set yet) without a device secret, or a
// CERT device without a certificate or key file. The SDK templates'
// placeholders count as missing. A device with credentials is never
// registered again.
func NeedsRegistration(info *core.DeviceInfo) bool {
	if info == nil {
		return false
	}
	if info.IsCert() {
		return unset(info.CertDeviceInfo.DevCertFile) || unset(info.CertDeviceInfo.DevPrivateKeyFile)
	}
	return unset(info.KeyDeviceInfo.DeviceSecret)
}

// CertFileNames are the names, relative to device_info.json's directory,
// under which a registered certificate and key are written.
func CertFileNames(productID, deviceName string) (cert, key string) {
	base := productID + "_" + strings.ReplaceAll(deviceName, ":", "_")
	return base + "_cert.crt", base + "_private.key"
}

// Save writes the credentials c into f's device_info.json: a KEY device
// gets key_deviceinfo.deviceSecret; a CERT device gets its certificate and
// key written next to the file (0600, atomically) and referenced from
// cert_deviceinfo. productSecret is removed unless keepProductSecret. Keys
// of the file iotd does not know are kept. The file is replaced
// atomically; on any error it is left as it was (and new certificate files
// are removed). It returns the saved identity, validated and with its files
// resolved.
func Save(f *File, c Credentials, keepProductSecret bool) (*core.DeviceInfo, error) {
	if f == nil || f.Info == nil {
		return nil, errors.New("dynreg: save: no device_info.json loaded")
	}
	doc := make(map[string]json.RawMessage, len(f.doc)+2)
	for k, v := range f.doc {
		doc[k] = v
	}
	if !keepProductSecret {
		delete(doc, "productSecret")
	}
	dir := filepath.Dir(f.Path)
	var written []string
	fail := func(err error) (*core.DeviceInfo, error) {
		for _, p := range written {
			_ = os.Remove(p)
		}
		return nil, err
	}
	switch c.EncryptionType {
	case TypeKey:
		doc["auth_mode"] = mustJSON(core.AuthKey)
		doc["key_deviceinfo"] = mustJSON(map[string]string{"deviceSecret": c.PSK})
	case TypeCert:
		certName, keyName := CertFileNames(f.Info.ProductID, f.Info.DeviceName)
		for _, w := range []struct{ name, pem string }{{certName, c.ClientCert}, {keyName, c.ClientKey}} {
			p := filepath.Join(dir, w.name)
			if _, err := os.Stat(p); err == nil {
				return fail(fmt.Errorf("dynreg: %s exists already; move it away (it may hold a previous registration's credentials) and register again", p))
			}
			if err := writeFile(p, []byte(w.pem), 0o600); err != nil {
				return fail(fmt.Errorf("dynreg: save the registered certificate: %w", err))
			}
			written = append(written, p)
		}
		cert := map[string]string{"devCertFile": certName, "devPrivateKeyFile": keyName}
		if ca := f.Info.CertDeviceInfo.DevCaFile; !unset(ca) {
			cert["devCaFile"] = ca
		}
		doc["auth_mode"] = mustJSON(core.AuthCert)
		doc["cert_deviceinfo"] = mustJSON(cert)
	default:
		return nil, fmt.Errorf("%w: encryptionType %d", ErrBadAnswer, c.EncryptionType)
	}
	data, err := json.Marshal(doc)
	if err != nil {
		return fail(fmt.Errorf("dynreg: %w", err))
	}
	info, err := core.ParseDeviceInfo(data, filepath.Base(f.Path))
	if err != nil {
		return fail(fmt.Errorf("dynreg: the registered identity is not valid: %w", err))
	}
	if err := saveDeviceInfo(f.Path, info); err != nil {
		return fail(fmt.Errorf("dynreg: registration succeeded but %s could not be written (it is unchanged; register again after fixing this): %w", f.Path, err))
	}
	if err := info.ResolveFiles(dir); err != nil {
		return nil, err
	}
	return info, nil
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // strings and maps of strings always encode
	}
	return b
}
