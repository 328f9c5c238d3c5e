package hubsim

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/internal/pki"
)

func TestConnectAuthentication(t *testing.T) {
	h := startHub(t, "")
	_, err := h.CreateDevice("PKEY000001", "dev1", false)
	require.NoError(t, err)
	_, err = h.CreateDevice("PCERT00001", "dev2", true)
	require.NoError(t, err)
	_, err = h.CreateDevice("PCERT00001", "dev3", true)
	require.NoError(t, err)
	_, err = h.CreateDevice("PKEY000001", "off", false)
	require.NoError(t, err)
	require.NoError(t, h.Store().SetDisabled("PKEY000001", "off", true))

	key, err := h.Store().Device("PKEY000001", "dev1")
	require.NoError(t, err)
	cert2, err := h.Store().Device("PCERT00001", "dev2")
	require.NoError(t, err)
	cert3, err := h.Store().Device("PCERT00001", "dev3")
	require.NoError(t, err)
	off, err := h.Store().Device("PKEY000001", "off")
	require.NoError(t, err)

	clientCert := func(d Device) tls.Certificate {
		c, err := tls.X509KeyPair([]byte(d.CertPEM), []byte(d.KeyPEM))
		require.NoError(t, err)
		return c
	}
	withCert := func(d Device) *tls.Config {
		tc := caConfig(t, h)
		tc.Certificates = []tls.Certificate{clientCert(d)}
		return tc
	}
	later, past := testNow.Add(time.Hour).Unix(), testNow.Add(-time.Second).Unix()
	otherSecret := "AAAAAAAAAAAAAAAAAAAAAA=="
	keyID, certID := key.ClientID(), cert2.ClientID()

	tests := []struct {
		name     string
		conn     func() conn
		clientID string
		user     func() (string, string)
		wantErr  error  // nil: accepted
		reason   string // part of the recorded refusal reason
	}{
		{"key device over TLS, hmacsha256", func() conn { return tlsConn(t, h, caConfig(t, h)) }, keyID,
			func() (string, string) { return signUsername(t, keyID, "21010406", later, key.Secret, "hmacsha256") }, nil, ""},
		{"key device over TCP, hmacsha1", func() conn { return tcpConn(h) }, keyID,
			func() (string, string) { return signUsername(t, keyID, "21010406", later, key.Secret, "hmacsha1") }, nil, ""},
		{"documented app id 12010126", func() conn { return tcpConn(h) }, keyID,
			func() (string, string) { return signUsername(t, keyID, "12010126", later, key.Secret, "hmacsha256") }, nil, ""},
		{"C SDK never-expiring username", func() conn { return tcpConn(h) }, keyID,
			func() (string, string) {
				return signUsername(t, keyID, "21010406", 9223372036854775807, key.Secret, "hmacsha1")
			}, nil, ""},
		{"wrong secret", func() conn { return tcpConn(h) }, keyID,
			func() (string, string) { return signUsername(t, keyID, "21010406", later, otherSecret, "hmacsha256") },
			packets.ErrorRefusedBadUsernameOrPassword, "signature does not match"},
		{"expired username", func() conn { return tcpConn(h) }, keyID,
			func() (string, string) { return signUsername(t, keyID, "21010406", past, key.Secret, "hmacsha256") },
			packets.ErrorRefusedBadUsernameOrPassword, "expired"},
		{"wrong app id", func() conn { return tcpConn(h) }, keyID,
			func() (string, string) { return signUsername(t, keyID, "99", later, key.Secret, "hmacsha256") },
			packets.ErrorRefusedBadUsernameOrPassword, "app id"},
		{"malformed username", func() conn { return tcpConn(h) }, keyID,
			func() (string, string) { return "garbage", "x;hmacsha256" },
			packets.ErrorRefusedBadUsernameOrPassword, "malformed username"},
		{"no password", func() conn { return tcpConn(h) }, keyID,
			func() (string, string) {
				u, _ := signUsername(t, keyID, "21010406", later, key.Secret, "hmacsha256")
				return u, ""
			},
			packets.ErrorRefusedBadUsernameOrPassword, "no password"},
		{"unknown client id", func() conn { return tcpConn(h) }, "PKEY000001nobody",
			func() (string, string) {
				return signUsername(t, "PKEY000001nobody", "21010406", later, key.Secret, "hmacsha256")
			}, packets.ErrorRefusedIDRejected, "unknown client id"},
		{"username names another client", func() conn { return tcpConn(h) }, keyID,
			func() (string, string) { return signUsername(t, certID, "21010406", later, key.Secret, "hmacsha256") },
			packets.ErrorRefusedIDRejected, "username names client id"},
		{"disabled device", func() conn { return tcpConn(h) }, off.ClientID(),
			func() (string, string) {
				return signUsername(t, off.ClientID(), "21010406", later, off.Secret, "hmacsha256")
			}, packets.ErrorRefusedNotAuthorised, "disabled"},
		{"cert device without a certificate", func() conn { return tlsConn(t, h, caConfig(t, h)) }, certID,
			func() (string, string) { return signUsername(t, certID, "21010406", later, key.Secret, "hmacsha256") },
			packets.ErrorRefusedNotAuthorised, "no client certificate"},
		{"cert device over plain TCP", func() conn { return tcpConn(h) }, certID,
			func() (string, string) { return signUsername(t, certID, "21010406", later, key.Secret, "hmacsha256") },
			packets.ErrorRefusedNotAuthorised, "plain TCP"},
		{"cert device with another device's certificate", func() conn { return tlsConn(t, h, withCert(cert3)) }, certID,
			func() (string, string) {
				u, _ := signUsername(t, certID, "21010406", later, key.Secret, "hmacsha256")
				return u, ""
			},
			packets.ErrorRefusedNotAuthorised, "does not match client id"},
		{"cert device with its certificate (mutual TLS)", func() conn { return tlsConn(t, h, withCert(cert2)) }, certID,
			func() (string, string) {
				u, _ := signUsername(t, certID, "21010406", later, key.Secret, "hmacsha256")
				return u, ""
			},
			nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			user, pass := tt.user()
			cl, err := connect(t, tt.conn(), tt.clientID, user, pass)
			if tt.wantErr == nil {
				require.NoError(t, err)
				assert.True(t, cl.IsConnectionOpen())
				cl.Disconnect(100)
				return
			}
			require.ErrorIs(t, err, tt.wantErr)
			refusals := h.Refusals()
			require.NotEmpty(t, refusals)
			last := refusals[len(refusals)-1]
			assert.Equal(t, tt.clientID, last.ClientID)
			assert.Contains(t, last.Reason, tt.reason)
			if pass != "" {
				assert.NotContains(t, last.Reason, pass, "the reason must not quote the password")
			}
		})
	}

	st := h.Status("PKEY000001", "dev1")
	require.NotNil(t, st.LastRefusal, "refusals of a known device are kept on the device")
	assert.Equal(t, CodeIdentifierRejected, st.LastRefusal.Code)
}

func TestTLSRejectsForeignClientCertificate(t *testing.T) {
	h := startHub(t, "")
	_, err := h.CreateDevice("PCERT00001", "dev", true)
	require.NoError(t, err)
	foreign, err := pki.NewCA("not hubsim")
	require.NoError(t, err)
	leaf, err := foreign.Issue(pki.Options{CommonName: "PCERT00001dev", Client: true})
	require.NoError(t, err)
	tc := caConfig(t, h)
	tc.Certificates = []tls.Certificate{leaf.TLS()}

	_, err = connect(t, tlsConn(t, h, tc), "PCERT00001dev", "PCERT00001dev;21010406;Ab3xZ;9223372036854775807", "")
	require.Error(t, err, "a certificate from another CA must fail the handshake")
}

func TestDuplicateClientIDKicksOldSession(t *testing.T) {
	h := startHub(t, "")
	_, err := h.CreateDevice("PKEY000001", "dev", false)
	require.NoError(t, err)
	lost := make(chan error, 1)
	c1 := tcpConn(h)
	c1.opts.SetConnectionLostHandler(func(_ pahoClient, err error) { lost <- err })
	first := connectKey(t, h, c1, "PKEY000001", "dev")
	second := connectKey(t, h, tcpConn(h), "PKEY000001", "dev")

	select {
	case <-lost:
	case <-time.After(10 * time.Second):
		t.Fatal("the first session was not disconnected")
	}
	assert.False(t, first.IsConnectionOpen())
	assert.True(t, second.IsConnectionOpen())
	waitFor(t, "status connected", func() bool { return h.Status("PKEY000001", "dev").Connected })
}
