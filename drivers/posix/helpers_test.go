package posix_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/internal/pki"
)

// testCtx bounds a test's dials; generous, never asserted.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// mustJSON marshals v for Open.
func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// open opens d with config and fails the test on error.
func open(t *testing.T, d driver.Driver, config any) driver.Dialer {
	t.Helper()
	var raw []byte
	if config != nil {
		raw = mustJSON(t, config)
	}
	dl, err := d.Open(raw)
	require.NoError(t, err)
	return dl
}

// testPKI is a CA with a server certificate for localhost and 127.0.0.1,
// written to files.
type testPKI struct {
	ca, server *pki.Pair
	caFile     string
	dir        string
}

func newPKI(t *testing.T) *testPKI {
	t.Helper()
	ca, err := pki.NewCA("posix test CA")
	require.NoError(t, err)
	srv, err := ca.Issue(pki.Options{CommonName: "hub", Hosts: []string{"localhost", "127.0.0.1"}})
	require.NoError(t, err)
	dir := t.TempDir()
	p := &testPKI{ca: ca, server: srv, dir: dir, caFile: filepath.Join(dir, "ca.pem")}
	require.NoError(t, os.WriteFile(p.caFile, ca.CertPEM, 0o600))
	return p
}

// writePair saves a pair into the test directory and returns the file names.
func (p *testPKI) writePair(t *testing.T, name string, pair *pki.Pair) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(p.dir, name+".pem"), filepath.Join(p.dir, name+".key")
	require.NoError(t, pair.Save(certFile, keyFile))
	return certFile, keyFile
}

// server is a loopback listener whose accepted connections arrive on conns.
// TLS servers complete the handshake before handing the connection over.
type server struct {
	ln    net.Listener
	conns chan net.Conn
	errs  chan error
}

func (s *server) addr() string { return s.ln.Addr().String() }

// listen starts a TCP server, TLS when tc is not nil; it stops at cleanup.
func listen(t *testing.T, tc *tls.Config) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &server{ln: ln, conns: make(chan net.Conn, 16), errs: make(chan error, 16)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if tc == nil {
				s.conns <- c
				continue
			}
			go func() {
				sc := tls.Server(c, tc)
				if err := sc.Handshake(); err != nil {
					s.errs <- err
					c.Close()
					return
				}
				s.conns <- sc
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for {
			select {
			case c := <-s.conns:
				c.Close()
			default:
				return
			}
		}
	})
	return s
}

// accept returns the next server-side connection.
func (s *server) accept(t *testing.T) net.Conn {
	t.Helper()
	select {
	case c := <-s.conns:
		t.Cleanup(func() { c.Close() })
		return c
	case err := <-s.errs:
		require.NoError(t, err, "server handshake")
	case <-time.After(30 * time.Second):
		require.FailNow(t, "no connection accepted")
	}
	return nil
}

// serverTLS is a TLS server config with p's server certificate.
func (p *testPKI) serverTLS() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.server.TLS()}, MinVersion: tls.VersionTLS12}
}

// closedPort returns a loopback address where nothing listens.
func closedPort(t *testing.T, network string) string {
	t.Helper()
	switch network {
	case "udp":
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := c.LocalAddr().String()
		require.NoError(t, c.Close())
		return addr
	default:
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		require.NoError(t, ln.Close())
		return addr
	}
}

// assertTimeout checks the contract's deadline error.
func assertTimeout(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
	var ne net.Error
	if assert.True(t, errors.As(err, &ne), "want a net.Error, got %T", err) {
		assert.True(t, ne.Timeout())
	}
	_, isNetErr := err.(net.Error)
	assert.True(t, isNetErr, "the error itself must implement net.Error, got %T", err)
}

// assertClosedUnblocks starts a Read on c, closes c, and checks that the Read
// and later calls fail with net.ErrClosed.
func assertClosedUnblocks(t *testing.T, c net.Conn) {
	t.Helper()
	res := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 16))
		res <- err
	}()
	require.NoError(t, c.Close())
	select {
	case err := <-res:
		assert.ErrorIs(t, err, net.ErrClosed)
	case <-time.After(30 * time.Second):
		require.FailNow(t, "Close did not unblock Read")
	}
	_, err := c.Write([]byte("x"))
	assert.ErrorIs(t, err, net.ErrClosed)
	_, err = c.Read(make([]byte, 1))
	assert.ErrorIs(t, err, net.ErrClosed)
	if err := c.Close(); err != nil {
		assert.ErrorIs(t, err, net.ErrClosed)
	}
}

// readAll reads until an error and returns what was read and the error.
func readAll(c net.Conn) ([]byte, error) {
	var out []byte
	buf := make([]byte, 512)
	for {
		n, err := c.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			return out, err
		}
	}
}
