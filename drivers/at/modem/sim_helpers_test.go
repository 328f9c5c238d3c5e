package modem_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/drivers/at/atsim"
	_ "github.com/iotd/iotd/drivers/at/builtin" // every dialect the tests use
	"github.com/iotd/iotd/drivers/at/modem"
	"github.com/iotd/iotd/drivers/serial"
	"github.com/iotd/iotd/internal/pki"
)

// guard bounds every wait of a test so that a bug hangs nothing; it is not
// a measurement.
const guard = 10 * time.Second

// testLogger logs to the test when IOTD_AT_DEBUG is set.
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("IOTD_AT_DEBUG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// startSim starts a simulated modem and stops it when the test ends.
func startSim(t testing.TB, cfg atsim.Config) *atsim.Modem {
	t.Helper()
	sim, err := atsim.Start(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { sim.Close() })
	return sim
}

// openModem brings a modem up on sim.
func openModem(t testing.TB, dialect string, sim *atsim.Modem, cfg modem.Config) (*modem.Modem, error) {
	t.Helper()
	cfg.Port = sim.Path()
	if cfg.SSID == "" {
		// Cellular dialects ignore the Wi-Fi settings.
		cfg.SSID, cfg.WiFiPassword = "iotd-lab", "lab password"
	}
	if cfg.RegistrationTimeout == 0 {
		cfg.RegistrationTimeout = modem.Duration(3 * time.Second)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	m, err := modem.OpenModem(ctx, dialect, cfg, testLogger(t))
	if err == nil {
		t.Cleanup(func() { m.Close() })
	}
	return m, err
}

// echoServer is a TCP echo peer on loopback; it records its connections.
type echoServer struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func newEchoServer(t testing.TB) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &echoServer{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				_, _ = io.Copy(c, c)
				c.Close()
			}()
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *echoServer) addr() string { return s.ln.Addr().String() }

// closeConns closes the server side of every connection (FIN).
func (s *echoServer) closeConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
}

func (s *echoServer) close() {
	s.ln.Close()
	s.closeConns()
	s.wg.Wait()
}

// roundTrip writes msg and reads it back.
func roundTrip(t testing.TB, c net.Conn, msg []byte) {
	t.Helper()
	require.NoError(t, c.SetDeadline(time.Now().Add(guard*3)))
	errc := make(chan error, 1)
	go func() { _, err := c.Write(msg); errc <- err }()
	got := make([]byte, len(msg))
	_, err := io.ReadFull(c, got)
	require.NoError(t, err)
	require.NoError(t, <-errc)
	require.True(t, bytesEqual(msg, got), "echo differs")
	require.NoError(t, c.SetDeadline(time.Time{}))
}

func bytesEqual(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() && errors.Is(err, os.ErrDeadlineExceeded)
}

// openPort opens sim's port as the drivers do.
func openPort(sim *atsim.Modem) (io.ReadWriteCloser, error) {
	return serial.Open(serial.Config{Name: sim.Path()})
}

// tlsEchoServer is a TLS echo peer on loopback for "localhost" and
// 127.0.0.1; caFile holds its CA.
func tlsEchoServer(t testing.TB) (addr, caFile string) {
	t.Helper()
	ca, err := pki.NewCA("test CA")
	require.NoError(t, err)
	srv, err := ca.Issue(pki.Options{CommonName: "localhost", Hosts: []string{"localhost", "127.0.0.1"}})
	require.NoError(t, err)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{srv.TLS()}})
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	caFile = t.TempDir() + "/ca.pem"
	require.NoError(t, pki.WriteFileAtomic(caFile, ca.CertPEM, 0o600))
	return ln.Addr().String(), caFile
}
