package sdk

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/plugins/internal/wire"
	pb "github.com/iotd/iotd/plugins/proto"
)

// server implements the plugin side of the protocol for a set of drivers.
type server struct {
	pb.UnimplementedPluginServer

	drivers map[string]driver.Driver
	infos   []*pb.DriverInfo

	mu      sync.Mutex // guards next, dialers, conns
	next    uint64
	dialers map[uint64]driver.Dialer
	conns   map[uint64]driver.Conn
}

func newServer(drivers []driver.Driver) (*server, error) {
	s := &server{
		drivers: make(map[string]driver.Driver),
		dialers: make(map[uint64]driver.Dialer),
		conns:   make(map[uint64]driver.Conn),
	}
	if len(drivers) == 0 {
		return nil, errors.New("sdk: Serve needs at least one driver")
	}
	for _, d := range drivers {
		if d == nil {
			return nil, errors.New("sdk: Serve: nil driver")
		}
		name := d.Name()
		if _, dup := s.drivers[name]; dup {
			return nil, fmt.Errorf("sdk: Serve: two drivers are named %q; names must be unique", name)
		}
		s.drivers[name] = d
		s.infos = append(s.infos, describe(d))
	}
	return s, nil
}

// describe advertises what d implements plus what it declares.
func describe(d driver.Driver) *pb.DriverInfo {
	info := &pb.DriverInfo{Name: d.Name()}
	for _, t := range d.Transports() {
		info.Transports = append(info.Transports, string(t))
	}
	if v, err := driver.Lookup[driver.Versioner](d); err == nil {
		info.Version, info.HasVersion = v.Version(), true
	}
	if m, err := driver.Lookup[driver.MaxPayloader](d); err == nil {
		info.MaxPayload = int64(m.MaxPayload())
	}
	_, err := driver.Lookup[driver.SignalReporter](d)
	info.Signal = err == nil
	_, err = driver.Lookup[driver.Sleeper](d)
	info.Sleeper = err == nil
	if dd, ok := d.(*declared); ok {
		if dd.caps.MaxPayload > 0 {
			info.MaxPayload = int64(dd.caps.MaxPayload)
		}
		info.Signal = info.Signal || dd.caps.Signal
		info.Sleeper = info.Sleeper || dd.caps.Sleeper
	}
	return info
}

func (s *server) driver(name string) (driver.Driver, error) {
	d, ok := s.drivers[name]
	if !ok {
		names := make([]string, 0, len(s.drivers))
		for n := range s.drivers {
			names = append(names, n)
		}
		slices.Sort(names)
		return nil, fmt.Errorf("sdk: no driver %q in this plugin (it serves %v)", name, names)
	}
	return d, nil
}

func (s *server) Describe(context.Context, *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	return &pb.DescribeResponse{Drivers: s.infos, SdkVersion: Version}, nil
}

func (s *server) Probe(ctx context.Context, req *pb.ProbeRequest) (*pb.ProbeResponse, error) {
	d, err := s.driver(req.Driver)
	if err == nil {
		err = d.Probe(ctx)
	}
	return &pb.ProbeResponse{Error: wire.EncodeError(err)}, nil
}

func (s *server) Open(_ context.Context, req *pb.OpenRequest) (*pb.OpenResponse, error) {
	d, err := s.driver(req.Driver)
	if err != nil {
		return &pb.OpenResponse{Error: wire.EncodeError(err)}, nil
	}
	dl, err := d.Open(req.Config)
	if err != nil {
		return &pb.OpenResponse{Error: wire.EncodeError(err)}, nil
	}
	if dl == nil {
		return &pb.OpenResponse{Error: wire.EncodeError(fmt.Errorf("sdk: driver %q: Open returned a nil Dialer", req.Driver))}, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	s.dialers[s.next] = dl
	return &pb.OpenResponse{Dialer: s.next}, nil
}

func (s *server) CloseDialer(_ context.Context, req *pb.CloseDialerRequest) (*pb.CloseDialerResponse, error) {
	s.mu.Lock()
	delete(s.dialers, req.Dialer)
	s.mu.Unlock()
	return &pb.CloseDialerResponse{}, nil
}

func (s *server) dialer(id uint64) (driver.Dialer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.dialers[id]
	if !ok {
		return nil, fmt.Errorf("sdk: unknown dialer %d: %w", id, driver.ErrBadConn)
	}
	return d, nil
}

func (s *server) addConn(c driver.Conn) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	s.conns[s.next] = c
	return s.next
}

func (s *server) dropConn(id uint64) {
	s.mu.Lock()
	delete(s.conns, id)
	s.mu.Unlock()
}

func (s *server) conn(id uint64) (driver.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.conns[id]
	if !ok {
		return nil, fmt.Errorf("sdk: unknown connection %d: %w", id, driver.ErrBadConn)
	}
	return c, nil
}

// closeAll closes the connections still open when the host ends the plugin.
func (s *server) closeAll() {
	s.mu.Lock()
	conns := make([]driver.Conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

func (s *server) Signal(ctx context.Context, req *pb.ConnCall) (*pb.SignalResponse, error) {
	c, err := s.conn(req.Conn)
	if err != nil {
		return &pb.SignalResponse{Error: wire.EncodeError(err)}, nil
	}
	r, err := driver.Lookup[driver.SignalReporter](c)
	if err != nil {
		return &pb.SignalResponse{Error: wire.EncodeError(err)}, nil
	}
	sig, err := r.Signal(ctx)
	if err != nil {
		return &pb.SignalResponse{Error: wire.EncodeError(err)}, nil
	}
	return &pb.SignalResponse{Rssi: int64(sig.RSSI), Quality: int64(sig.Quality), Technology: sig.Technology}, nil
}

func (s *server) Sleep(ctx context.Context, req *pb.SleepRequest) (*pb.SleepResponse, error) {
	c, err := s.conn(req.Conn)
	if err == nil {
		var sl driver.Sleeper
		if sl, err = driver.Lookup[driver.Sleeper](c); err == nil {
			err = sl.Sleep(ctx, time.Duration(req.DurationNanos))
		}
	}
	return &pb.SleepResponse{Error: wire.EncodeError(err)}, nil
}
