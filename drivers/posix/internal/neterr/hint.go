package neterr

import (
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
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
		return "the server certificate does not name the host dialled; set server_name to a name it holds"
	case errors.As(err, &unknown):
		return "the server certificate is not signed by a trusted CA; set ca_file to the CA bundle that signed it"
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return "the server certificate has expired or is not yet valid; check the certificate and this host's clock"
	case errors.As(err, &op) && op.Op == "remote error":
		if strings.Contains(op.Err.Error(), "certificate") {
			return "the server rejected our client certificate; set cert_file and key_file to a certificate it trusts"
		}
		return "the server refused the handshake; if it requires a client certificate, set cert_file and key_file"
	case errors.Is(err, io.EOF):
		return "the peer closed the connection during the handshake; is it a TLS server?"
	}
	return ""
}
