package peer

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// Faults configures a [Relay]. Probabilities are in [0, 1] and drawn, per
// datagram and in arrival order, from a generator seeded with Seed, so the
// same traffic meets the same faults on every run.
type Faults struct {
	// Loss is the probability a datagram is dropped.
	Loss float64
	// Duplicate is the probability a delivered datagram is sent twice.
	Duplicate float64
	// Reorder is the probability a delivered datagram is held back by
	// ReorderDelay, so that later ones overtake it.
	Reorder float64
	// Latency delays every delivered datagram.
	Latency time.Duration
	// ReorderDelay is the extra delay of a reordered datagram; 0 means 20 ms.
	ReorderDelay time.Duration
	// Seed seeds the fault generator.
	Seed uint64
}

// Validate reports a probability outside [0, 1] or a negative delay.
func (f Faults) Validate() error {
	for name, p := range map[string]float64{"loss": f.Loss, "duplicate": f.Duplicate, "reorder": f.Reorder} {
		if p < 0 || p > 1 || p != p {
			return fmt.Errorf("peer: relay %s probability %v outside [0, 1]", name, p)
		}
	}
	if f.Latency < 0 || f.ReorderDelay < 0 {
		return errors.New("peer: relay delays must not be negative")
	}
	return nil
}

// Relay forwards UDP datagrams between clients and one target, applying
// Faults in both directions. Each client address gets its own upstream
// socket, so the target sees one source per client.
type Relay struct {
	front  *net.UDPConn
	target *net.UDPAddr
	faults Faults

	rmu sync.Mutex
	rng *rand.Rand

	mu       sync.Mutex
	closed   bool
	sessions map[string]*net.UDPConn
	wg       sync.WaitGroup
}

// NewRelay starts a relay on 127.0.0.1 (ephemeral port) towards target.
func NewRelay(target string, f Faults) (*Relay, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if f.ReorderDelay == 0 {
		f.ReorderDelay = 20 * time.Millisecond
	}
	taddr, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		return nil, fmt.Errorf("peer: relay target: %w", err)
	}
	front, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	r := &Relay{front: front, target: taddr, faults: f,
		rng: rand.New(rand.NewPCG(f.Seed, f.Seed^0x9e3779b97f4a7c15)), sessions: map[string]*net.UDPConn{}}
	r.wg.Add(1)
	go r.fromClients()
	return r, nil
}

// Addr is the relay's client-facing "127.0.0.1:port" address.
func (r *Relay) Addr() string { return r.front.LocalAddr().String() }

// Close stops the relay and waits for its goroutines, delayed deliveries
// included.
func (r *Relay) Close() error {
	r.mu.Lock()
	r.closed = true
	for _, up := range r.sessions {
		_ = up.Close()
	}
	r.mu.Unlock()
	err := r.front.Close()
	r.wg.Wait()
	return err
}

func (r *Relay) fromClients() {
	defer r.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, from, err := r.front.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		up := r.session(from)
		if up == nil {
			continue
		}
		r.forward(buf[:n], func(p []byte) { _, _ = up.Write(p) })
	}
}

// session returns the upstream socket of client from, creating it and its
// return path on first use; nil once the relay is closed.
func (r *Relay) session(from *net.UDPAddr) *net.UDPConn {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	key := from.String()
	if up, ok := r.sessions[key]; ok {
		return up
	}
	up, err := net.DialUDP("udp", nil, r.target)
	if err != nil {
		return nil
	}
	r.sessions[key] = up
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		buf := make([]byte, 64<<10)
		for {
			n, err := up.Read(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			r.forward(buf[:n], func(p []byte) { _, _ = r.front.WriteToUDP(p, from) })
		}
	}()
	return up
}

// forward applies the faults to one datagram and sends the survivors.
func (r *Relay) forward(p []byte, send func([]byte)) {
	r.rmu.Lock()
	drop := r.rng.Float64() < r.faults.Loss
	dup := r.rng.Float64() < r.faults.Duplicate
	late := r.rng.Float64() < r.faults.Reorder
	r.rmu.Unlock()
	if drop {
		return
	}
	copies := 1
	if dup {
		copies = 2
	}
	delay := r.faults.Latency
	if late {
		delay += r.faults.ReorderDelay
	}
	if delay == 0 {
		for range copies {
			send(p)
		}
		return
	}
	data := append([]byte(nil), p...)
	r.wg.Add(1)
	time.AfterFunc(delay, func() {
		defer r.wg.Done()
		for range copies {
			send(data)
		}
	})
}
