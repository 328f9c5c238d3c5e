package core_test

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/drivers/posix"
)

// HTTPS through a registered stream driver: the transport dials with the
// driver and does TLS itself, verifying the server.
func TestHTTPTransportThroughDriver(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "firmware")
	}))
	defer srv.Close()
	reg := core.NewRegistry()
	require.NoError(t, reg.Register(posix.NewTCP()))

	tr, err := reg.HTTPTransport("tcp", nil, &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs})
	require.NoError(t, err)
	resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "firmware", string(body))

	// Verification is on: without the test CA the handshake fails.
	tr, err = reg.HTTPTransport("tcp", nil, nil)
	require.NoError(t, err)
	_, err = (&http.Client{Transport: tr}).Get(srv.URL)
	assert.ErrorContains(t, err, "certificate")

	_, err = reg.HTTPTransport("nope", nil, nil)
	assert.ErrorIs(t, err, core.ErrUnknownDriver)
}

// The transport asks for no compression, as the SDK's HTTP client does:
// Go would otherwise add "Accept-Encoding: gzip" to every request.
func TestHTTPTransportSendsNoAcceptEncoding(t *testing.T) {
	got := make(chan []string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Values("Accept-Encoding")
	}))
	defer srv.Close()
	reg := core.NewRegistry()
	require.NoError(t, reg.Register(posix.NewTCP()))
	tr, err := reg.HTTPTransport("tcp", nil, nil)
	require.NoError(t, err)
	resp, err := (&http.Client{Transport: tr}).Post(srv.URL, "text/plain", nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Empty(t, <-got)
}
