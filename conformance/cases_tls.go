package conformance

import (
	"github.com/iotd/iotd/conformance/peer"
	"github.com/iotd/iotd/core/driver"
)

// caseBadCert dials a TLS peer whose certificate must not verify.
func caseBadCert(pick func(*peer.TLSSet) *peer.Stream, what string) func(*C) {
	return func(c *C) {
		conn, err := c.s.dialer.Dial(c.ctx, driver.Stream, pick(c.s.tlsSet).Addr())
		if err == nil {
			_ = conn.Close()
		}
		c.expectIs(err, driver.ErrHandshake, "Dial to a server with %s", what)
	}
}
