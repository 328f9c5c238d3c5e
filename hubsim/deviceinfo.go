package hubsim

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/internal/pki"
)

// DeviceInfoFile is the C SDK's default identity file name.
const DeviceInfoFile = "device_info.json"

// CAFileName is the name the hubsim CA is written under next to a
// device_info.json.
const CAFileName = "hubsim-ca.pem"

// DeviceInfo converts a device to the C SDK identity layout. For a cert
// device, certFile, keyFile and caFile are the paths to reference.
func DeviceInfo(d Device, productSecret, certFile, keyFile, caFile string) *core.DeviceInfo {
	info := &core.DeviceInfo{
		ProductID:     d.ProductID,
		ProductSecret: productSecret,
		DeviceName:    d.DeviceName,
	}
	if d.AuthMode == AuthCert {
		info.AuthMode = core.AuthCert
		info.CertDeviceInfo.DevCertFile = certFile
		info.CertDeviceInfo.DevPrivateKeyFile = keyFile
		info.CertDeviceInfo.DevCaFile = caFile
	} else {
		info.AuthMode = core.AuthKey
		info.KeyDeviceInfo.DeviceSecret = d.Secret
	}
	return info
}

// WriteDeviceInfo writes the device's identity to path (device_info.json
// layout, 0600, atomic). It always writes the hubsim CA (caPEM) next to it
// as hubsim-ca.pem, which a client needs to verify the broker; for a cert
// device it also writes {dn}.crt and {dn}.key (0600) and references the
// three by name, which core.LoadDeviceInfo resolves next to the file.
func WriteDeviceInfo(path string, d Device, productSecret string, caPEM []byte) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("hubsim: %w", err)
	}
	dir := filepath.Dir(abs)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("hubsim: %w", err)
	}
	info, err := writeCredentialFiles(d, productSecret, caPEM, dir)
	if err != nil {
		return err
	}
	if info.AuthMode == core.AuthCert {
		// Relative names resolve next to the file, so the directory can move.
		c := &info.CertDeviceInfo
		c.DevCertFile, c.DevPrivateKeyFile, c.DevCaFile =
			filepath.Base(c.DevCertFile), filepath.Base(c.DevPrivateKeyFile), filepath.Base(c.DevCaFile)
	}
	if err := core.SaveDeviceInfo(abs, info); err != nil {
		return fmt.Errorf("hubsim: write %s: %w", path, err)
	}
	return nil
}

// writeCredentialFiles writes the CA and, for a cert device, its
// certificate and key into dir, and returns the identity referencing them.
func writeCredentialFiles(d Device, productSecret string, caPEM []byte, dir string) (*core.DeviceInfo, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("hubsim: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("hubsim: %w", err)
	}
	caFile := filepath.Join(dir, CAFileName)
	if err := pki.WriteFileAtomic(caFile, caPEM, 0o644); err != nil {
		return nil, fmt.Errorf("hubsim: %w", err)
	}
	var certFile, keyFile string
	if d.AuthMode == AuthCert {
		certFile = filepath.Join(dir, d.DeviceName+".crt")
		keyFile = filepath.Join(dir, d.DeviceName+".key")
		if err := pki.WriteFileAtomic(certFile, []byte(d.CertPEM), 0o644); err != nil {
			return nil, fmt.Errorf("hubsim: %w", err)
		}
		if err := pki.WriteFileAtomic(keyFile, []byte(d.KeyPEM), 0o600); err != nil {
			return nil, fmt.Errorf("hubsim: %w", err)
		}
	}
	return DeviceInfo(d, productSecret, certFile, keyFile, caFile), nil
}
