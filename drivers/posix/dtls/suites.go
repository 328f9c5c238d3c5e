package dtls

import (
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"hash"
	"sync/atomic"

	piondtls "github.com/pion/dtls/v2"
	"github.com/pion/dtls/v2/pkg/crypto/ciphersuite"
	"github.com/pion/dtls/v2/pkg/crypto/clientcertificate"
	"github.com/pion/dtls/v2/pkg/crypto/prf"
	"github.com/pion/dtls/v2/pkg/protocol/recordlayer"
)

// The PSK cipher suites of the IoT Hub's DTLS endpoint (RFC 4279) that
// pion/dtls v2 does not implement.
const (
	TLS_PSK_WITH_AES_128_CBC_SHA piondtls.CipherSuiteID = 0x008C //nolint:revive // IANA name
	TLS_PSK_WITH_AES_256_CBC_SHA piondtls.CipherSuiteID = 0x008D //nolint:revive // IANA name
)

// PSKCipherSuites returns fresh instances of the suites above, in the form
// pion's Config.CustomCipherSuites wants. pion offers custom suites ahead of
// those listed in Config.CipherSuites, which must not repeat their IDs; a
// pion server (hubsim) that should speak like the hub sets
// CustomCipherSuites to PSKCipherSuites and CipherSuites to an empty,
// non-nil slice.
func PSKCipherSuites() []piondtls.CipherSuite {
	return []piondtls.CipherSuite{
		&pskCBCSHA{id: TLS_PSK_WITH_AES_128_CBC_SHA, name: "TLS_PSK_WITH_AES_128_CBC_SHA", keyLen: 16},
		&pskCBCSHA{id: TLS_PSK_WITH_AES_256_CBC_SHA, name: "TLS_PSK_WITH_AES_256_CBC_SHA", keyLen: 32},
	}
}

// pskCBCSHA is TLS_PSK_WITH_AES_{128,256}_CBC_SHA under TLS 1.2 rules:
// the SHA-256 PRF derives the keys, records are AES-CBC with HMAC-SHA1.
type pskCBCSHA struct {
	id     piondtls.CipherSuiteID
	name   string
	keyLen int
	cbc    atomic.Pointer[ciphersuite.CBC]
}

func (c *pskCBCSHA) String() string             { return c.name }
func (c *pskCBCSHA) ID() piondtls.CipherSuiteID { return c.id }
func (c *pskCBCSHA) HashFunc() func() hash.Hash { return sha256.New }
func (c *pskCBCSHA) ECC() bool                  { return false }
func (c *pskCBCSHA) IsInitialized() bool        { return c.cbc.Load() != nil }
func (c *pskCBCSHA) CertificateType() clientcertificate.Type {
	return clientcertificate.Type(0)
}

func (c *pskCBCSHA) AuthenticationType() piondtls.CipherSuiteAuthenticationType {
	return piondtls.CipherSuiteAuthenticationTypePreSharedKey
}

func (c *pskCBCSHA) KeyExchangeAlgorithm() piondtls.CipherSuiteKeyExchangeAlgorithm {
	return piondtls.CipherSuiteKeyExchangeAlgorithmPsk
}

// Init derives the record keys from the master secret.
func (c *pskCBCSHA) Init(masterSecret, clientRandom, serverRandom []byte, isClient bool) error {
	const macLen, ivLen = 20, 16 // HMAC-SHA1, AES block
	keys, err := prf.GenerateEncryptionKeys(masterSecret, clientRandom, serverRandom, macLen, c.keyLen, ivLen, c.HashFunc())
	if err != nil {
		return err
	}
	var cbc *ciphersuite.CBC
	if isClient {
		cbc, err = ciphersuite.NewCBC(keys.ClientWriteKey, keys.ClientWriteIV, keys.ClientMACKey,
			keys.ServerWriteKey, keys.ServerWriteIV, keys.ServerMACKey, sha1.New)
	} else {
		cbc, err = ciphersuite.NewCBC(keys.ServerWriteKey, keys.ServerWriteIV, keys.ServerMACKey,
			keys.ClientWriteKey, keys.ClientWriteIV, keys.ClientMACKey, sha1.New)
	}
	if err != nil {
		return err
	}
	c.cbc.Store(cbc)
	return nil
}

var errNotInitialized = errors.New("dtls: cipher suite used before the handshake set its keys")

// Encrypt protects one record.
func (c *pskCBCSHA) Encrypt(pkt *recordlayer.RecordLayer, raw []byte) ([]byte, error) {
	cbc := c.cbc.Load()
	if cbc == nil {
		return nil, errNotInitialized
	}
	return cbc.Encrypt(pkt, raw)
}

// Decrypt opens one record.
func (c *pskCBCSHA) Decrypt(raw []byte) ([]byte, error) {
	cbc := c.cbc.Load()
	if cbc == nil {
		return nil, errNotInitialized
	}
	return cbc.Decrypt(raw)
}

var _ piondtls.CipherSuite = (*pskCBCSHA)(nil)
