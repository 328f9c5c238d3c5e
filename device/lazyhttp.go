package device

import (
	"net/http"
	"sync"
)

// lazyHTTPS is the features' HTTP transport when they ask for the default
// roots: plain http requests go through plain at once, and the https
// transport, with the roots, is built at the first https request. The
// default roots are the system's CA store plus the hub services' CAs
// (hub.ServiceTLS): parsing the store allocates some 3 MB, which a daemon
// whose features have not fetched anything over https (log upload to a
// local http collector, OTA waiting for an update) should not pay at start.
type lazyHTTPS struct {
	plain http.RoundTripper
	build func() (http.RoundTripper, error)

	once  sync.Once
	https http.RoundTripper
	err   error
}

func (l *lazyHTTPS) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil || req.URL.Scheme != "https" {
		return l.plain.RoundTrip(req)
	}
	l.once.Do(func() { l.https, l.err = l.build() })
	if l.err != nil {
		if req.Body != nil {
			_ = req.Body.Close() // a RoundTripper closes the body, even on errors
		}
		return nil, l.err
	}
	return l.https.RoundTrip(req)
}

// CloseIdleConnections closes both transports' idle connections (what
// http.Client.CloseIdleConnections reaches).
func (l *lazyHTTPS) CloseIdleConnections() {
	type idler interface{ CloseIdleConnections() }
	if c, ok := l.plain.(idler); ok {
		c.CloseIdleConnections()
	}
	l.once.Do(func() {}) // after this, https is set or stays nil
	if c, ok := l.https.(idler); ok {
		c.CloseIdleConnections()
	}
}
