package peer

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/iotd/iotd/internal/pki"
)

// TLSSet is four TLS stream peers sharing one CA: Good presents a valid
// certificate for "localhost" and 127.0.0.1; Expired one whose validity
// ended a day ago; WrongName one valid only for "wrong-name.invalid";
// Untrusted one signed by a CA the client is not given. All keys are
// generated at start-up and live only in memory.
type TLSSet struct {
	// CAPEM is the PEM certificate of the CA a client must trust to verify
	// Good (and, except for their defects, Expired and WrongName).
	CAPEM []byte

	Good, Expired, WrongName, Untrusted *Stream

	// GoodConfig is Good's server configuration, for tests that accept
	// connections themselves (nettest pipes).
	GoodConfig *tls.Config
}

// NewTLSSet starts the four TLS peers. log may be nil.
func NewTLSSet(log *slog.Logger) (_ *TLSSet, err error) {
	ca, err := pki.NewCA("iotd conformance CA")
	if err != nil {
		return nil, err
	}
	other, err := pki.NewCA("iotd conformance untrusted CA")
	if err != nil {
		return nil, err
	}
	hosts := []string{"localhost", "127.0.0.1"}
	now := time.Now()
	specs := []struct {
		name   string
		issuer *pki.Pair
		opts   pki.Options
	}{
		{"good", ca, pki.Options{CommonName: "localhost", Hosts: hosts}},
		{"expired", ca, pki.Options{CommonName: "localhost", Hosts: hosts,
			NotBefore: now.Add(-72 * time.Hour), NotAfter: now.Add(-24 * time.Hour)}},
		{"wrong-name", ca, pki.Options{CommonName: "wrong-name.invalid", Hosts: []string{"wrong-name.invalid"}}},
		{"untrusted", other, pki.Options{CommonName: "localhost", Hosts: hosts}},
	}
	set := &TLSSet{CAPEM: ca.CertPEM}
	defer func() {
		if err != nil {
			_ = set.Close()
		}
	}()
	peers := []**Stream{&set.Good, &set.Expired, &set.WrongName, &set.Untrusted}
	for i, sp := range specs {
		pair, err := sp.issuer.Issue(sp.opts)
		if err != nil {
			return nil, fmt.Errorf("peer: issue %s certificate: %w", sp.name, err)
		}
		cfg := &tls.Config{Certificates: []tls.Certificate{pair.TLS()}, MinVersion: tls.VersionTLS12}
		if i == 0 {
			set.GoodConfig = cfg
		}
		s, err := NewStream(cfg, log)
		if err != nil {
			return nil, err
		}
		*peers[i] = s
	}
	return set, nil
}

// Close stops all four peers.
func (t *TLSSet) Close() error {
	var errs []error
	for _, s := range []*Stream{t.Good, t.Expired, t.WrongName, t.Untrusted} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	return errors.Join(errs...)
}
