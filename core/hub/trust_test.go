package hub

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The bundle is what certs/README.md says it is, and every certificate is
// intact: a transcription error breaks its signature.
func TestBundleMatchesItsNotes(t *testing.T) {
	notes, err := os.ReadFile("certs/README.md")
	require.NoError(t, err)
	want := map[string]struct {
		subject     string
		from, until string
		hub         bool
		sha256      string // fingerprint, as `openssl x509 -fingerprint -sha256` prints it after verifying the signature
	}{
		"tencent-iothub-ca-2017.pem":  {"CN=www.tencent.com,OU=Tencent Iothub,O=Tencent,L=ShenZhen,ST=GuangDong,C=CN", "2017-11-27", "2032-11-23", true, "3b1fa1e1149e3f3bd3722730dbef9eb72ec4b9fd95553063a9c60ba62778e740"},
		"tencent-ca-2022.pem":         {"CN=ca", "2022-05-06", "2122-04-12", true, "6a8db3b1260c898751e91d74f6f271bb1e6d04b8261461c71636413a8046d827"},
		"digicert-global-root-ca.pem": {"CN=DigiCert Global Root CA,OU=www.digicert.com,O=DigiCert Inc,C=US", "2006-11-10", "2031-11-10", false, "4348a0e9444c78cb265e058d5e8944b4d84f9662bd26db257f8934a443c70161"},
		"geotrust-cn-rsa-ca-g1.pem":   {"CN=GeoTrust CN RSA CA G1,OU=www.digicert.com,O=DigiCert Inc,C=US", "2019-06-20", "2029-06-20", false, "23ddf08b22373d86158eb9c99fdb5366b19804560531372dd20dce3fb766f56c"},
		"globalsign-root-ca.pem":      {"CN=GlobalSign Root CA,OU=Root CA,O=GlobalSign nv-sa,C=BE", "1998-09-01", "2028-01-28", false, "ebd41040e4bb3ec742c9e381d31ef2a41a48b6685c96e7cef3c1df6cd4331c99"},
	}
	entries, err := certFS.ReadDir("certs")
	require.NoError(t, err)
	assert.Len(t, entries, len(want), "every file in certs/ is in the table")
	require.Len(t, Bundled(), len(want))
	for _, ca := range Bundled() {
		w, ok := want[ca.File]
		require.True(t, ok, ca.File)
		assert.Equal(t, w.subject, ca.Subject(), ca.File)
		assert.Equal(t, w.from, ca.Cert.NotBefore.UTC().Format(time.DateOnly), ca.File)
		assert.Equal(t, w.until, ca.Cert.NotAfter.UTC().Format(time.DateOnly), ca.File)
		assert.Equal(t, w.hub, ca.Hub, ca.File)
		assert.True(t, ca.Cert.IsCA, ca.File)
		assert.NotEmpty(t, ca.Source)
		line := noteLine(string(notes), ca.File)
		assert.Contains(t, line, w.from+" → "+w.until, "certs/README.md states the validity of %s", ca.File)
		sum := sha256.Sum256(ca.Cert.Raw)
		assert.Equal(t, w.sha256, hex.EncodeToString(sum[:]), ca.File)
		// Go checks SHA-256 signatures only; the two SHA-1 roots rest on
		// their pinned fingerprints.
		if ca.Cert.SignatureAlgorithm == x509.SHA256WithRSA && ca.Cert.Issuer.String() == ca.Cert.Subject.String() {
			assert.NoError(t, ca.Cert.CheckSignatureFrom(ca.Cert), ca.File)
		}
	}
	geo, root := byFile(t, "geotrust-cn-rsa-ca-g1.pem"), byFile(t, "digicert-global-root-ca.pem")
	assert.NoError(t, geo.Cert.CheckSignatureFrom(root.Cert))
}

func noteLine(notes, file string) string {
	for _, l := range strings.Split(notes, "\n") {
		if strings.HasPrefix(l, "| `"+file+"`") {
			return l
		}
	}
	return ""
}

func byFile(t *testing.T, file string) CA {
	for _, ca := range Bundled() {
		if ca.File == file {
			return ca
		}
	}
	t.Fatalf("%s not bundled", file)
	return CA{}
}

func TestHubAndPublicSplit(t *testing.T) {
	assert.Len(t, HubCAs(), 2)
	assert.Len(t, PublicCAs(), 3)
	for _, ca := range HubCAs() {
		got, ok := Find(ca.Cert)
		assert.True(t, ok)
		assert.Equal(t, ca.File, got.File)
	}
	pem := PEM(HubCAs())
	certs, err := ParsePEM(pem)
	require.NoError(t, err)
	assert.Len(t, certs, 2)
	pool := Pool(nil, HubCAs())
	_, err = HubCAs()[0].Cert.Verify(x509.VerifyOptions{Roots: pool})
	assert.NoError(t, err)
}

func TestExpiring(t *testing.T) {
	iothub := byFile(t, "tencent-iothub-ca-2017.pem").Cert
	certs := []*x509.Certificate{iothub, byFile(t, "tencent-ca-2022.pem").Cert}
	at := func(s string) time.Time { v, _ := time.Parse(time.DateOnly, s); return v }
	assert.Empty(t, Expiring(certs, at("2031-11-22"), ExpiryWarning), "more than a year left")
	assert.Equal(t, []*x509.Certificate{iothub}, Expiring(certs, at("2031-12-01"), ExpiryWarning), "the 2017 CA's last year")
	assert.Equal(t, []*x509.Certificate{iothub}, Expiring(certs, at("2033-01-01"), ExpiryWarning), "expired")
}

func TestParsePEM(t *testing.T) {
	_, err := ParsePEM([]byte("not pem"))
	require.ErrorContains(t, err, "no PEM CERTIFICATE block")
	_, err = ParsePEM([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	require.ErrorContains(t, err, "PEM block 1")
	key := "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
	certs, err := ParsePEM(append([]byte(key), HubCAs()[0].PEM...))
	require.NoError(t, err, "other blocks are skipped")
	assert.Len(t, certs, 1)
}

func FuzzParsePEM(f *testing.F) {
	f.Add(HubCAs()[0].PEM)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := ParsePEM(data)
		if err == nil && len(certs) == 0 {
			t.Fatal("no error and no certificate")
		}
	})
}
