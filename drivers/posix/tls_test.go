package posix_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/iotd/iotd/internal/testlog"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/posix"
	"github.com/iotd/iotd/internal/pki"
)

func TestTLSVerification(t *testing.T) {
	p := newPKI(t)
	otherCA, err := pki.NewCA("someone else")
	require.NoError(t, err)
	otherCAFile := filepath.Join(p.dir, "other-ca.pem")
	require.NoError(t, os.WriteFile(otherCAFile, otherCA.CertPEM, 0o600))
	expired, err := p.ca.Issue(pki.Options{CommonName: "old", Hosts: []string{"localhost", "127.0.0.1"},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	require.NoError(t, err)

	rows := []struct {
		name     string
		cert     *pki.Pair // server certificate; nil = p.server
		serverTo uint16    // server MaxVersion; 0 = default
		cfg      posix.TLSConfig
		wantErr  string // substring of the error; "" = success
	}{
		{name: "trusted CA, IP literal", cfg: posix.TLSConfig{CAFile: p.caFile}},
		{name: "trusted CA, server_name", cfg: posix.TLSConfig{CAFile: p.caFile, ServerName: "localhost"}},
		{name: "TLS 1.3 minimum", cfg: posix.TLSConfig{CAFile: p.caFile, MinVersion: "1.3"}},
		{name: "wrong name", cfg: posix.TLSConfig{CAFile: p.caFile, ServerName: "other.example"}, wantErr: "set server_name"},
		{name: "untrusted CA", cfg: posix.TLSConfig{CAFile: otherCAFile}, wantErr: "set ca_file"},
		{name: "system roots", cfg: posix.TLSConfig{}, wantErr: "set ca_file"},
		{name: "trusted CA as ca_pem", cfg: posix.TLSConfig{CAPEM: string(p.ca.CertPEM)}},
		{name: "ca_pem adds to ca_file", cfg: posix.TLSConfig{CAFile: otherCAFile, CAPEM: string(p.ca.CertPEM)}},
		{name: "ca_pem with system roots", cfg: posix.TLSConfig{CAPEM: string(p.ca.CertPEM), SystemRoots: true}},
		{name: "untrusted ca_pem with system roots", cfg: posix.TLSConfig{CAPEM: string(otherCA.CertPEM), SystemRoots: true}, wantErr: "set ca_file"},
		{name: "expired", cert: expired, cfg: posix.TLSConfig{CAFile: p.caFile}, wantErr: "expired"},
		{name: "server too old for min_version", serverTo: tls.VersionTLS12, cfg: posix.TLSConfig{CAFile: p.caFile, MinVersion: "1.3"}, wantErr: "protocol version"},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			cert := p.server
			if row.cert != nil {
				cert = row.cert
			}
			srv := listen(t, &tls.Config{Certificates: []tls.Certificate{cert.TLS()}, MaxVersion: row.serverTo})
			dl := open(t, posix.NewTLS(), row.cfg)
			c, err := dl.Dial(testCtx(t), driver.Stream, srv.addr())
			if row.wantErr == "" {
				require.NoError(t, err)
				defer c.Close()
				s := srv.accept(t)
				_, err = s.Write([]byte("hi"))
				require.NoError(t, err)
				buf := make([]byte, 2)
				_, err = io.ReadFull(c, buf)
				require.NoError(t, err)
				assert.Equal(t, "hi", string(buf))
				return
			}
			require.Error(t, err)
			assert.Nil(t, c)
			assert.ErrorIs(t, err, driver.ErrHandshake)
			assert.Contains(t, err.Error(), row.wantErr)
			assert.Contains(t, err.Error(), "tls: handshake with "+srv.addr())
			assert.Equal(t, core.ClassUnauthenticated, core.ClassOf(err))
		})
	}
}

func TestTLSMutual(t *testing.T) {
	p := newPKI(t)
	device, err := p.ca.Issue(pki.Options{CommonName: "PRODUCTIDdevice1", Client: true})
	require.NoError(t, err)
	certFile, keyFile := p.writePair(t, "device", device)

	versions := []struct {
		version uint16
		refusal string // the alert a server without our certificate sends
	}{
		{tls.VersionTLS12, "handshake failure"},
		{tls.VersionTLS13, "certificate required"},
	}
	for _, v := range versions {
		version := v.version
		t.Run(tls.VersionName(version), func(t *testing.T) {
			sc := p.serverTLS()
			sc.MaxVersion = version
			sc.ClientAuth = tls.RequireAndVerifyClientCert
			sc.ClientCAs = p.ca.Pool()

			t.Run("with a client certificate", func(t *testing.T) {
				srv := listen(t, sc)
				dl := open(t, posix.NewTLS(), posix.TLSConfig{CAFile: p.caFile, CertFile: certFile, KeyFile: keyFile})
				c, err := dl.Dial(testCtx(t), driver.Stream, srv.addr())
				require.NoError(t, err)
				defer c.Close()
				s := srv.accept(t).(*tls.Conn)
				peers := s.ConnectionState().PeerCertificates
				require.Len(t, peers, 1)
				assert.Equal(t, "PRODUCTIDdevice1", peers[0].Subject.CommonName)
			})
			t.Run("without one the server refuses", func(t *testing.T) {
				srv := listen(t, sc)
				dl := open(t, posix.NewTLS(), posix.TLSConfig{CAFile: p.caFile})
				c, err := dl.Dial(testCtx(t), driver.Stream, srv.addr())
				if err == nil {
					// TLS 1.3: the client's handshake completes before the
					// server has judged its (missing) certificate; the
					// refusal arrives with the first read.
					defer c.Close()
					_, err = c.Read(make([]byte, 1))
				}
				require.Error(t, err)
				assert.ErrorIs(t, err, driver.ErrHandshake)
				assert.Contains(t, err.Error(), v.refusal)
				assert.Contains(t, err.Error(), "cert_file")
			})
		})
	}
}

func TestTLSInsecureSkipVerifyWarnsAtEveryConnect(t *testing.T) {
	// Not parallel: it replaces the default logger.
	logs := testlog.CaptureDefault(t)

	p := newPKI(t)
	srv := listen(t, p.serverTLS())
	dl := open(t, posix.NewTLS(), posix.TLSConfig{InsecureSkipVerify: true})
	for i := 0; i < 2; i++ {
		c, err := dl.Dial(testCtx(t), driver.Stream, srv.addr())
		require.NoError(t, err, "an untrusted certificate is accepted")
		require.NoError(t, c.Close())
	}
	out := logs.String()
	assert.Equal(t, 2, bytes.Count([]byte(out), []byte("verification is OFF")), out)
	assert.Contains(t, out, "level=WARN")
	assert.Contains(t, out, srv.addr())

	before := len(logs.String())
	verified := open(t, posix.NewTLS(), posix.TLSConfig{CAFile: p.caFile})
	c, err := verified.Dial(testCtx(t), driver.Stream, srv.addr())
	require.NoError(t, err)
	require.NoError(t, c.Close())
	assert.Empty(t, logs.String()[before:], "a verified connection logs no warning")
}

func TestTLSTruncatedStreamIsReset(t *testing.T) {
	p := newPKI(t)
	srv := listen(t, p.serverTLS())
	dl := open(t, posix.NewTLS(), posix.TLSConfig{CAFile: p.caFile})

	rows := []struct {
		name string
		cut  func(t *testing.T, raw *net.TCPConn)
		want error
	}{
		{"record cut short", func(t *testing.T, raw *net.TCPConn) {
			// An application-data record header announcing 100 bytes, then 3.
			_, err := raw.Write([]byte{0x17, 0x03, 0x03, 0x00, 0x64, 1, 2, 3})
			require.NoError(t, err)
			require.NoError(t, raw.CloseWrite())
		}, driver.ErrReset},
		{"FIN at a record boundary", func(t *testing.T, raw *net.TCPConn) {
			require.NoError(t, raw.CloseWrite())
		}, io.EOF},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			c, err := dl.Dial(testCtx(t), driver.Stream, srv.addr())
			require.NoError(t, err)
			defer c.Close()
			s := srv.accept(t)
			row.cut(t, rawTCP(t, s))
			_, err = readAll(c)
			assert.ErrorIs(t, err, row.want)
		})
	}
}

func TestTLSClientOverAnyConn(t *testing.T) {
	p := newPKI(t)
	srv := listen(t, p.serverTLS())
	raw, err := net.Dial("tcp", srv.addr())
	require.NoError(t, err)

	c, err := posix.TLSConfig{CAFile: p.caFile}.Client(testCtx(t), raw, "localhost")
	require.NoError(t, err)
	defer c.Close()
	s := srv.accept(t)
	_, err = c.Write([]byte("ping"))
	require.NoError(t, err)
	buf := make([]byte, 4)
	_, err = io.ReadFull(s, buf)
	require.NoError(t, err)
	assert.Equal(t, "ping", string(buf))

	// driver.Lookup reaches the socket under the TLS layer.
	got, err := driver.Lookup[*net.TCPConn](c)
	require.NoError(t, err)
	assert.Same(t, raw, net.Conn(got))

	// A failed handshake closes the conn it was given.
	raw2, err := net.Dial("tcp", srv.addr())
	require.NoError(t, err)
	_, err = posix.TLSConfig{CAFile: p.caFile}.Client(testCtx(t), raw2, "wrong.example")
	assert.ErrorIs(t, err, driver.ErrHandshake)
	_, err = raw2.Write([]byte("x"))
	assert.ErrorIs(t, err, net.ErrClosed)
}

func TestTLSHandshakeBoundedByContext(t *testing.T) {
	// A TCP server that never answers the ClientHello.
	srv := listen(t, nil)
	dl := open(t, posix.NewTLS(), posix.TLSConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() {
		_, err := dl.Dial(ctx, driver.Stream, srv.addr())
		res <- err
	}()
	srv.accept(t) // the TCP connection is up; the handshake is waiting
	cancel()
	select {
	case err := <-res:
		assert.ErrorIs(t, err, context.Canceled)
		assert.NotErrorIs(t, err, driver.ErrHandshake)
	case <-time.After(30 * time.Second):
		require.FailNow(t, "cancel did not end the handshake")
	}
}

func TestTLSFileErrorsAtDial(t *testing.T) {
	p := newPKI(t)
	srv := listen(t, p.serverTLS())
	notPEM := filepath.Join(p.dir, "not.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("hello"), 0o600))
	rows := []struct {
		name string
		cfg  posix.TLSConfig
		want string
	}{
		{"missing ca_file", posix.TLSConfig{CAFile: filepath.Join(p.dir, "nope.pem")}, "ca_file"},
		{"ca_file not PEM", posix.TLSConfig{CAFile: notPEM}, "no PEM CERTIFICATE"},
		{"missing cert_file", posix.TLSConfig{CertFile: filepath.Join(p.dir, "c"), KeyFile: filepath.Join(p.dir, "k")}, "cert_file"},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			dl := open(t, posix.NewTLS(), row.cfg)
			_, err := dl.Dial(testCtx(t), driver.Stream, srv.addr())
			require.Error(t, err)
			assert.Contains(t, err.Error(), row.want)
			var ce *core.ConfigError
			assert.True(t, errors.As(err, &ce), "want *core.ConfigError, got %T", err)
			assert.Equal(t, core.ClassInvalidConfig, core.ClassOf(err))
		})
	}
}
