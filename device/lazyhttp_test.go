package device

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The https transport (and the roots it loads) is built at the first https
// request, once; plain http never builds it.
func TestLazyHTTPSBuildsAtFirstHTTPSRequest(t *testing.T) {
	plainSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "plain") }))
	defer plainSrv.Close()
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "tls") }))
	defer tlsSrv.Close()
	builds := 0
	l := &lazyHTTPS{plain: &http.Transport{}, build: func() (http.RoundTripper, error) {
		builds++
		return tlsSrv.Client().Transport, nil
	}}
	c := &http.Client{Transport: l}
	get := func(url string) string {
		resp, err := c.Get(url)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return string(b)
	}
	assert.Equal(t, "plain", get(plainSrv.URL))
	assert.Equal(t, 0, builds, "a plain http request built the https transport")
	assert.Equal(t, "tls", get(tlsSrv.URL))
	assert.Equal(t, "tls", get(tlsSrv.URL))
	assert.Equal(t, 1, builds)
	c.CloseIdleConnections()
}

type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

// A failed build is the request's error, and the body is closed as a
// RoundTripper must.
func TestLazyHTTPSBuildErrorClosesTheBody(t *testing.T) {
	boom := errors.New("no roots")
	l := &lazyHTTPS{plain: &http.Transport{}, build: func() (http.RoundTripper, error) { return nil, boom }}
	body := &closeRecorder{Reader: strings.NewReader("x")}
	req, err := http.NewRequest(http.MethodPost, "https://example.invalid/", body)
	require.NoError(t, err)
	_, err = l.RoundTrip(req)
	require.ErrorIs(t, err, boom)
	assert.True(t, body.closed)
	l.CloseIdleConnections()
}
