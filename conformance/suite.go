package conformance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/iotd/iotd/conformance/peer"
	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/internal/pki"
)

// suite is one run's shared state: the peers and the opened dialer.
type suite struct {
	h      Harness
	dialer driver.Dialer
	config []byte // the harness's configuration, for a fresh Open
	env    Env
	tmp    string
	guard  time.Duration

	stream    *peer.Stream // plain or TLS (good certificate)
	tlsSet    *peer.TLSSet
	udp       *peer.UDPEcho
	dgramAddr string
	stopDgram func()
}

func (s *suite) has(t driver.Transport) bool { return slices.Contains(s.h.Driver.Transports(), t) }

// newSuite starts the peers the driver's transports need and opens the
// driver with the harness's configuration.
func newSuite(ctx context.Context, h Harness) (_ *suite, err error) {
	if h.Driver == nil {
		return nil, errors.New("conformance: Harness.Driver is nil")
	}
	if h.TimeScale < 0 || h.TimeScale != h.TimeScale {
		return nil, fmt.Errorf("conformance: Harness.TimeScale %v must be positive (0 means 1)", h.TimeScale)
	}
	s := &suite{h: h, guard: baseGuard}
	if h.TimeScale > 0 {
		s.guard = time.Duration(float64(baseGuard) * h.TimeScale)
	}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	log := slog.New(slog.DiscardHandler)
	if s.has(driver.Stream) {
		if h.Features.TLS {
			if s.tlsSet, err = peer.NewTLSSet(log); err != nil {
				return nil, fmt.Errorf("conformance: start TLS peers: %w", err)
			}
			if s.tmp, err = os.MkdirTemp("", "iotd-conformance-"); err != nil {
				return nil, err
			}
			s.env.CAFile = filepath.Join(s.tmp, "ca.pem")
			if err = pki.WriteFileAtomic(s.env.CAFile, s.tlsSet.CAPEM, 0o600); err != nil {
				return nil, err
			}
			s.stream = s.tlsSet.Good
		} else if s.stream, err = peer.NewStream(nil, log); err != nil {
			return nil, fmt.Errorf("conformance: start stream peer: %w", err)
		}
	}
	if s.has(driver.Datagram) {
		if h.DatagramPeer != nil {
			if s.dgramAddr, s.stopDgram, err = h.DatagramPeer(ctx); err != nil {
				return nil, fmt.Errorf("conformance: start the harness's datagram peer: %w", err)
			}
		} else {
			if s.udp, err = peer.NewUDPEcho(); err != nil {
				return nil, fmt.Errorf("conformance: start UDP echo: %w", err)
			}
			s.dgramAddr = s.udp.Addr()
		}
	}
	var config []byte
	if h.Config != nil {
		if config, err = h.Config(s.env); err != nil {
			return nil, fmt.Errorf("conformance: harness config: %w", err)
		}
	}
	s.config = config
	if s.dialer, err = h.Driver.Open(config); err != nil {
		return nil, fmt.Errorf("conformance: open driver %q with the harness config: %w", h.Driver.Name(), err)
	}
	return s, nil
}

func (s *suite) close() {
	if s.tlsSet != nil {
		_ = s.tlsSet.Close()
	} else if s.stream != nil {
		_ = s.stream.Close()
	}
	if s.udp != nil {
		_ = s.udp.Close()
	}
	if s.stopDgram != nil {
		s.stopDgram()
	}
	if s.tmp != "" {
		_ = os.RemoveAll(s.tmp)
	}
}

// closedPort returns a loopback address nothing listens on (a port just
// released by the kernel).
func closedPort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}
