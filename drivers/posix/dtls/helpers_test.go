package dtls_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	piondtls "github.com/pion/dtls/v2"
	"github.com/pion/transport/v2/udp"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/posix/dtls"
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

// echoServer is a pion DTLS server that echoes every datagram. Each peer's
// handshake runs on its own goroutine, so a failed handshake does not hold
// up the next client.
type echoServer struct {
	addr    string
	accepts chan net.Conn // server-side conns, after the handshake
	errs    chan error    // failed handshakes
}

// echoIdle ends an echo session that has been silent this long.
const echoIdle = 2 * time.Second

func serveEcho(t *testing.T, cfg *piondtls.Config) *echoServer {
	t.Helper()
	lc := udp.ListenConfig{}
	ln, err := lc.Listen("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	s := &echoServer{addr: ln.Addr().String(), accepts: make(chan net.Conn, 16), errs: make(chan error, 16)}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			raw, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer raw.Close()
				c, err := piondtls.ServerWithContext(ctx, raw, cfg)
				if err != nil {
					select {
					case s.errs <- err:
					default:
					}
					return
				}
				defer c.Close()
				select {
				case s.accepts <- c:
				default:
				}
				stop := context.AfterFunc(ctx, func() { c.Close() })
				defer stop()
				buf := make([]byte, 8192)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					if _, err := c.Write(buf[:n]); err != nil {
						return
					}
					// A client's close_notify is one unretransmitted
					// datagram; when it is lost the session would live
					// on, and the suite's leak cases count this
					// process's goroutines, the echo's included. So a
					// session that has carried data ends when idle (not
					// before: the client may still be retransmitting its
					// last handshake flight through a lossy relay).
					_ = c.SetReadDeadline(time.Now().Add(echoIdle))
				}
			}()
		}
	}()
	t.Cleanup(func() {
		cancel()
		ln.Close()
		wg.Wait()
	})
	return s
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
