package daemon

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/internal/pki"
)

func TestRefusalHints(t *testing.T) {
	key := refusal{clientID: "PHINT00001dev1", deviceInfo: "/etc/iotd/device_info.json"}
	keyExpiring := key
	keyExpiring.expiry, keyExpiring.signedAt = time.Hour, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cert := key
	cert.cert = true
	connack := func(rc byte) string { return (&core.ConnackError{ReturnCode: rc}).Error() }
	// What a refused client certificate looks like in the session error
	// under TLS 1.3: an alert, or a reset, on the read of CONNACK.
	alert := "uplink: connect: network Error : tls: read: driver: security handshake failed: remote error: tls: unknown certificate authority (the server rejected our client certificate ...)"
	reset := "uplink: connect: network Error : tls: read: driver: connection reset: read tcp 127.0.0.1:40000->127.0.0.1:8883: read: connection reset by peer"
	eof := "uplink: connect: network Error : EOF"

	rows := []struct {
		name    string
		r       refusal
		errText string
		want    []string // substrings of the hint; nil: no hint
	}{
		{"key device, CONNACK 4, no expiry", key, connack(4), []string{"deviceSecret", "/etc/iotd/device_info.json", "not an expiry"}},
		{"key device, CONNACK 4, expiring username", keyExpiring, connack(4), []string{"deviceSecret is wrong", "expired", "1h0m0s", "2026-01-02T03:04:05Z", "mqtt.username_expiry"}},
		{"key device, CONNACK 5", key, connack(5), []string{"wrong key_deviceinfo.deviceSecret", "disabled"}},
		{"key device, CONNACK 2", key, connack(2), []string{`"PHINT00001dev1"`, "productId and deviceName"}},
		{"paho's wording of 4", key, "bad user name or password", []string{"deviceSecret"}},
		{"cert device, CONNACK 5", cert, connack(5), []string{"client certificate", "devCertFile", "PHINT00001dev1"}},
		{"cert device, CONNACK 4", cert, connack(4), []string{"certificate files"}},
		{"cert device, alert on the first read", cert, alert, []string{"refused the client certificate", "devCertFile and devPrivateKeyFile", "not expired or revoked"}},
		{"cert device, reset before CONNACK", cert, reset, []string{"refused the client certificate"}},
		{"cert device, closed before CONNACK", cert, eof, []string{"refused the client certificate"}},
		{"cert device, alert in a TLS 1.2 handshake", cert, "core: dial tls 1.2.3.4:8883: tls: handshake with 1.2.3.4:8883: driver: security handshake failed: remote error: tls: bad certificate", []string{"refused the client certificate"}},
		{"cert device, reset in a TLS 1.2 handshake", cert, "core: dial tls 1.2.3.4:8883: tls: handshake with 1.2.3.4:8883: driver: connection reset: read tcp 10.0.0.2:40000->1.2.3.4:8883: read: connection reset by peer (the server reset the connection during the handshake; ...)", []string{"refused the client certificate"}},
		{"key device, reset before CONNACK", key, reset, nil},
		{"cert device, reset of a session that was up", cert, "uplink: connection lost: read: connection reset by peer", nil},
		{"unrelated", key, "core: dial tls: no route to host", nil},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			hint := row.r.hint(row.errText)
			if row.want == nil {
				assert.Empty(t, hint)
				return
			}
			for _, w := range row.want {
				assert.Contains(t, hint, w)
			}
		})
	}
}

// strangeCertificate replaces the certificate of cert device dn in dir
// (written by deviceDir) with one from another CA that bears the hubsim
// CA's name: the client offers it, and hubsim's TLS refuses it — under TLS
// 1.3 with an alert after the client's handshake.
func strangeCertificate(t *testing.T, dir, pid, dn string) {
	t.Helper()
	impostor, err := pki.NewCA("hubsim CA")
	require.NoError(t, err)
	p, err := impostor.Issue(pki.Options{CommonName: pid + dn, Client: true})
	require.NoError(t, err)
	require.NoError(t, p.Save(filepath.Join(dir, dn+".crt"), filepath.Join(dir, dn+".key")))
}

// The running daemon says, in its log, that the hub refused the client
// certificate, although TLS 1.3 reports it only as an alert on a read.
func TestDaemonLogsRefusedCertificate(t *testing.T) {
	hub := startHub(t, nil)
	dir := deviceDir(t, hub, "PHINT00002", "dev1", true)
	strangeCertificate(t, dir, "PHINT00002", "dev1")
	r := startDaemon(t, configFor(t, hub, dir, ""))
	require.Eventually(t, func() bool {
		return strings.Contains(r.log.String(), "refused the client certificate")
	}, 15*time.Second, 20*time.Millisecond, "log:\n%s", r.log.String())
	assert.Contains(t, r.log.String(), "hub refused the connection")
	assert.False(t, hub.Status("PHINT00002", "dev1").Connected)
}
