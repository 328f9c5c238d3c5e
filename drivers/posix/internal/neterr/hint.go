package neterr

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// VerifyHint says how to fix a failed TLS or DTLS handshake, or returns ""
// when it has no advice.
func VerifyHint(err error) string {
	var (
		host    x509.HostnameError
		unknown x509.UnknownAuthorityError
		invalid x509.CertificateInvalidError
		op      *net.OpError
	)
	switch {
	case errors.As(err, &host):
		if names := certNames(host.Certificate); names != "" {
			return fmt.Sprintf("the server certificate is for %s, not %s; set server_name to a name it holds, or fix the endpoint", names, host.Host)
		}
		return "the server certificate does not name the host dialled; set server_name to a name it holds"
	case errors.As(err, &unknown):
		if c := unknown.Cert; c != nil {
			return fmt.Sprintf("the server certificate is signed by %q, which is not a trusted CA; set ca_file to the CA bundle that signed it", c.Issuer.String())
		}
		return "the server certificate is not signed by a trusted CA; set ca_file to the CA bundle that signed it"
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		msg := "the server certificate has expired or is not yet valid; check the certificate and this host's clock"
		if c := invalid.Cert; c != nil {
			msg = fmt.Sprintf("the server certificate is valid from %s to %s, and this host's clock says %s; check the certificate and the clock",
				c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339), time.Now().UTC().Format(time.RFC3339))
		}
		return msg
	case errors.As(err, &op) && op.Op == "remote error":
		return AlertHint(op.Err.Error())
	case errors.Is(err, io.EOF):
		return "the peer closed the connection during the handshake; is it a TLS server?"
	}
	return ""
}

// AlertHint explains a TLS alert the server sent ("tls: bad certificate").
// Under TLS 1.3 the server checks the client certificate after the
// client's handshake is over, so such an alert comes with the first read,
// not from the handshake.
func AlertHint(alert string) string {
	switch {
	case strings.Contains(alert, "certificate required"):
		return "the server requires a client certificate; set cert_file and key_file"
	case strings.Contains(alert, "certificate"):
		return fmt.Sprintf("the server rejected our client certificate (%s); set cert_file and key_file to a certificate it trusts, valid now and not revoked",
			strings.TrimPrefix(alert, "tls: "))
	}
	return "the server refused the handshake; if it requires a client certificate, set cert_file and key_file"
}

// ResetWithCertHint explains a reset during a handshake in which the client
// offered a certificate.
const ResetWithCertHint = "the server reset the connection during the handshake; a server that refuses a client certificate may do that: check cert_file and key_file"

// certNames lists the names a certificate holds, for a message.
func certNames(c *x509.Certificate) string {
	if c == nil {
		return ""
	}
	var names []string
	names = append(names, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 && c.Subject.CommonName != "" {
		names = append(names, c.Subject.CommonName)
	}
	if len(names) > 5 {
		names = append(names[:5], "...")
	}
	return strings.Join(names, ", ")
}
