package shadow_test

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/hubsim"
	"github.com/iotd/iotd/internal/hubtest"
)

// kickOut connects another MQTT client with dev's identity, which makes the
// hub drop dev's session (one session per client id); dev's uplink then
// reconnects and takes the session back. It returns once the other client
// holds the session.
func kickOut(t *testing.T, hub *hubsim.Hub, dev *hubtest.Device) {
	t.Helper()
	creds, err := core.MQTTCredentials(dev.Info, core.CredentialOptions{})
	require.NoError(t, err)
	pem, err := os.ReadFile(hub.CAFile())
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	opts := paho.NewClientOptions().AddBroker("ssl://" + hub.TLSAddr()).
		SetTLSConfig(&tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}).
		SetClientID(creds.ClientID).SetUsername(creds.Username).SetPassword(creds.Password).
		SetProtocolVersion(4).SetCleanSession(true).SetAutoReconnect(false).SetConnectRetry(false)
	cl := paho.NewClient(opts)
	tok := cl.Connect()
	require.True(t, tok.WaitTimeout(wait))
	require.NoError(t, tok.Error())
	t.Cleanup(func() { cl.Disconnect(0) })
}
