package dtls_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"testing"
	"time"

	piondtls "github.com/pion/dtls/v2"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/posix/dtls"
	"github.com/iotd/iotd/drivers/posix/dtls/dtlstest"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// device is a PSK identity and secret as device_info.json holds them.
type device struct {
	clientID string
	secret   string // base64
	key      []byte // decoded
}

func newDevice(t *testing.T, clientID string) device {
	t.Helper()
	key := make([]byte, 16)
	_, err := rand.Read(key)
	require.NoError(t, err)
	return device{clientID: clientID, secret: base64.StdEncoding.EncodeToString(key), key: key}
}

// pskServerConfig accepts only d's identity with d's key, with only the
// given suite, or with every PSK suite when suite is 0.
func pskServerConfig(d device, suite piondtls.CipherSuiteID) *piondtls.Config {
	custom := dtls.PSKCipherSuites
	suites := []piondtls.CipherSuiteID{
		piondtls.TLS_PSK_WITH_AES_128_GCM_SHA256, piondtls.TLS_PSK_WITH_AES_128_CCM,
		piondtls.TLS_PSK_WITH_AES_128_CCM_8, piondtls.TLS_PSK_WITH_AES_128_CBC_SHA256,
	}
	switch suite {
	case 0:
	case dtls.TLS_PSK_WITH_AES_128_CBC_SHA, dtls.TLS_PSK_WITH_AES_256_CBC_SHA:
		suites = []piondtls.CipherSuiteID{}
		custom = func() []piondtls.CipherSuite {
			for _, c := range dtls.PSKCipherSuites() {
				if c.ID() == suite {
					return []piondtls.CipherSuite{c}
				}
			}
			return nil
		}
	default:
		suites, custom = []piondtls.CipherSuiteID{suite}, nil
	}
	return &piondtls.Config{
		PSK: func(identity []byte) ([]byte, error) {
			if string(identity) != d.clientID {
				return nil, errors.New("unknown identity")
			}
			return d.key, nil
		},
		PSKIdentityHint:    []byte("hub"),
		CipherSuites:       suites,
		CustomCipherSuites: custom,
	}
}

// serveEcho starts a DTLS echo with cfg for the rest of the test.
func serveEcho(t *testing.T, cfg *piondtls.Config) *dtlstest.Echo {
	t.Helper()
	e, err := dtlstest.Serve(cfg)
	require.NoError(t, err)
	t.Cleanup(e.Close)
	return e
}

func open(t *testing.T, cfg dtls.Config) driver.Dialer {
	t.Helper()
	raw, err := json.Marshal(cfg)
	require.NoError(t, err)
	dl, err := dtls.New().Open(raw)
	require.NoError(t, err)
	return dl
}

func dial(t *testing.T, cfg dtls.Config, addr string) driver.Conn {
	t.Helper()
	c, err := open(t, cfg).Dial(testCtx(t), driver.Datagram, addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(30*time.Second)))
	return c
}

// echo writes msg and reads the echo.
func echo(t *testing.T, c net.Conn, msg string) string {
	t.Helper()
	_, err := c.Write([]byte(msg))
	require.NoError(t, err)
	buf := make([]byte, 8192)
	n, err := c.Read(buf)
	require.NoError(t, err)
	return string(buf[:n])
}
