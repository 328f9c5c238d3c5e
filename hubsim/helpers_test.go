package hubsim

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"
)

// testNow is the hub clock in tests; usernames expire relative to it.
var testNow = time.Date(2030, 1, 2, 3, 4, 5, 600_000_000, time.UTC)

type testLogWriter struct {
	mu sync.Mutex
	t  *testing.T
	on bool
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.on {
		w.t.Log(string(p))
	}
	return len(p), nil
}

// startHub starts a hub on free loopback ports in dir (a temp dir when "").
func startHub(t *testing.T, dir string) *Hub {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	lw := &testLogWriter{t: t, on: os.Getenv("HUBSIM_TEST_LOG") != ""}
	h, err := Start(context.Background(), Config{
		StateDir: dir, TLSAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		Now:    func() time.Time { return testNow },
		Logger: slog.New(slog.NewTextHandler(lw, nil)),
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// signUsername builds credentials by hand, independently of core: the
// username "{clientId};{appId};{connId};{expiry}" and the password
// hex(HMAC(base64-decoded secret, username));method.
func signUsername(t *testing.T, clientID, appID string, expiry int64, secretB64, method string) (string, string) {
	t.Helper()
	user := clientID + ";" + appID + ";Ab3xZ;" + strconv.FormatInt(expiry, 10)
	key, err := base64.StdEncoding.DecodeString(secretB64)
	require.NoError(t, err)
	var hf func() hash.Hash = sha256.New
	if method == "hmacsha1" {
		hf = sha1.New
	}
	mac := hmac.New(hf, key)
	io.WriteString(mac, user)
	return user, hex.EncodeToString(mac.Sum(nil)) + ";" + method
}

// caConfig trusts only the hub's CA.
func caConfig(t *testing.T, h *Hub) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(h.CAFile())
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	return &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
}

type conn struct {
	opts   *paho.ClientOptions
	broker string
}

func tlsConn(t *testing.T, h *Hub, tc *tls.Config) conn {
	o := paho.NewClientOptions().AddBroker("ssl://" + h.TLSAddr()).SetTLSConfig(tc)
	return conn{opts: o, broker: h.TLSAddr()}
}

func tcpConn(h *Hub) conn {
	return conn{opts: paho.NewClientOptions().AddBroker("tcp://" + h.TCPAddr()), broker: h.TCPAddr()}
}

// connect runs a real paho CONNECT and returns the client or the error.
func connect(t *testing.T, c conn, clientID, user, pass string) (paho.Client, error) {
	t.Helper()
	c.opts.SetClientID(clientID).SetUsername(user).SetPassword(pass).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(10 * time.Second).
		SetProtocolVersion(4).SetCleanSession(true).SetKeepAlive(60 * time.Second)
	cl := paho.NewClient(c.opts)
	tok := cl.Connect()
	if !tok.WaitTimeout(15 * time.Second) {
		return nil, fmt.Errorf("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { cl.Disconnect(100) })
	return cl, nil
}

// connectKey connects a key device over c with a valid signed username.
func connectKey(t *testing.T, h *Hub, c conn, pid, dn string) paho.Client {
	t.Helper()
	d, err := h.Store().Device(pid, dn)
	require.NoError(t, err)
	user, pass := signUsername(t, pid+dn, "21010406", testNow.Add(time.Hour).Unix(), d.Secret, "hmacsha256")
	cl, err := connect(t, c, pid+dn, user, pass)
	require.NoError(t, err)
	// The hub records the session once established, just after CONNACK.
	waitFor(t, pid+"/"+dn+" recorded as connected", func() bool { return h.Status(pid, dn).Connected })
	return cl
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type pahoClient = paho.Client
