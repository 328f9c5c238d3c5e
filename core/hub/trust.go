package hub

import (
	"bytes"
	"crypto/x509"
	"embed"
	"encoding/pem"
	"errors"
	"fmt"
	"sync"
	"time"
)

// CA is one certificate the official SDKs embed to verify the hub's
// servers, bundled with iotd in certs/ (certs/README.md notes each one's
// source, subject and validity).
type CA struct {
	// File is the file name in certs/.
	File string
	// Hub is true for Tencent's own CAs, which sign the MQTT and CoAP
	// servers and are in no system store; false for the public CAs the SDKs
	// embed for the HTTPS services, which system stores usually hold too.
	Hub bool
	// Use says what the SDK trusts it for.
	Use string
	// Source names the SDK file and variable it comes from.
	Source string
	// Cert is the parsed certificate; PEM its encoded form.
	Cert *x509.Certificate
	PEM  []byte
}

// Subject is the certificate's subject, as OpenSSL prints it.
func (c CA) Subject() string { return c.Cert.Subject.String() }

//go:embed certs/*.pem
var certFS embed.FS

// bundle is the table of bundled CAs; the certificates themselves are read
// from certFS.
var bundle = []CA{
	{
		File: "tencent-iothub-ca-2017.pem", Hub: true,
		Use:    "MQTT and CoAP servers, certificate devices",
		Source: "qcloud-iot-sdk-embedded-c sdk_src/utils/qcloud_iot_ca.c, iot_ca_crt (AUTH_MODE_CERT)",
	},
	{
		File: "tencent-ca-2022.pem", Hub: true,
		Use:    "every TLS connection, key and certificate devices (newer SDK copies)",
		Source: "qcloud-iot-sdk-embedded-c sdk_src/utils/qcloud_iot_ca.c, iot_ca_crt (some copies, 2022)",
	},
	{
		File:   "digicert-global-root-ca.pem",
		Use:    "dynamic registration over HTTPS; root of the WebSocket servers' chain",
		Source: "tencentcloud-iot-sdk-embedded-c sdk_src/utils/qcloud_iot_ca.c, iot_dynreg_https_ca_crt and iot_wss_mqtt_ca_crt",
	},
	{
		File:   "geotrust-cn-rsa-ca-g1.pem",
		Use:    "dynamic registration over HTTPS (intermediate under DigiCert Global Root CA)",
		Source: "tencentcloud-iot-sdk-embedded-c sdk_src/utils/qcloud_iot_ca.c, iot_dynreg_https_ca_crt",
	},
	{
		File:   "globalsign-root-ca.pem",
		Use:    "OTA firmware downloads over HTTPS",
		Source: "qcloud-iot-sdk-embedded-c sdk_src/utils/qcloud_iot_ca.c, iot_https_ca_crt (OTA_USE_HTTPS)",
	},
}

var loadBundle = sync.OnceValue(func() []CA {
	out := make([]CA, len(bundle))
	for i, ca := range bundle {
		data, err := certFS.ReadFile("certs/" + ca.File)
		if err != nil {
			panic("hub: bundled CA missing: " + err.Error())
		}
		certs, err := ParsePEM(data)
		if err != nil || len(certs) != 1 {
			panic(fmt.Sprintf("hub: bundled CA %s: want one certificate: %v", ca.File, err))
		}
		ca.Cert, ca.PEM = certs[0], data
		out[i] = ca
	}
	return out
})

// Bundled returns every bundled CA, Tencent's first.
func Bundled() []CA { return append([]CA(nil), loadBundle()...) }

// HubCAs returns Tencent's own CAs: the default trust for the MQTT and CoAP
// servers.
func HubCAs() []CA { return filter(true) }

// PublicCAs returns the public CAs the SDKs embed for the HTTPS services
// (registration, OTA) and that root the WebSocket servers' chain. iotd
// trusts them alongside the system roots, so a board without a system CA
// store still verifies those servers.
func PublicCAs() []CA { return filter(false) }

func filter(hub bool) []CA {
	var out []CA
	for _, ca := range loadBundle() {
		if ca.Hub == hub {
			out = append(out, ca)
		}
	}
	return out
}

// PEM concatenates the PEM forms of cas.
func PEM(cas []CA) []byte {
	var b bytes.Buffer
	for _, ca := range cas {
		b.Write(ca.PEM)
	}
	return b.Bytes()
}

// Pool returns a pool of cas, on top of base when base is non-nil (base is
// copied, not changed).
func Pool(base *x509.CertPool, cas []CA) *x509.CertPool {
	p := x509.NewCertPool()
	if base != nil {
		p = base.Clone()
	}
	for _, ca := range cas {
		p.AddCert(ca.Cert)
	}
	return p
}

// Find returns the bundled CA whose certificate is c, if any.
func Find(c *x509.Certificate) (CA, bool) {
	for _, ca := range loadBundle() {
		if ca.Cert.Equal(c) {
			return ca, true
		}
	}
	return CA{}, false
}

// ExpiryWarning is how long before a trusted CA expires iotd starts warning:
// a year, time enough to ship a new bundle to devices in the field.
const ExpiryWarning = 365 * 24 * time.Hour

// Expiring returns the certificates of certs that expire within d of now
// (or have expired).
func Expiring(certs []*x509.Certificate, now time.Time, d time.Duration) []*x509.Certificate {
	var out []*x509.Certificate
	for _, c := range certs {
		if c.NotAfter.Before(now.Add(d)) {
			out = append(out, c)
		}
	}
	return out
}

// ParsePEM parses every CERTIFICATE block of data. It fails on a block
// that does not parse, and when there is none.
func ParsePEM(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for n := 1; ; n++ {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", n, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return certs, nil
}
