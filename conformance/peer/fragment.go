package peer

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// Fragmentation configures a [StreamRelay]. Chunk sizes and pauses are
// drawn from a generator seeded with Seed (and the connection's and
// direction's index), so the same traffic is cut the same way on every
// run.
type Fragmentation struct {
	// MaxChunk is the largest piece the relay writes at once; each piece
	// is 1..MaxChunk bytes. 0 means 8.
	MaxChunk int
	// Pause is the probability of a pause after a piece.
	Pause float64
	// PauseFor is the length of one pause; 0 means 1 ms.
	PauseFor time.Duration
	// Seed seeds the generator.
	Seed uint64
}

// Validate reports a probability outside [0, 1] or a negative size.
func (f Fragmentation) Validate() error {
	if f.MaxChunk < 0 || f.PauseFor < 0 {
		return errors.New("peer: fragmentation sizes and pauses must not be negative")
	}
	if f.Pause < 0 || f.Pause > 1 || f.Pause != f.Pause {
		return fmt.Errorf("peer: fragmentation pause probability %v outside [0, 1]", f.Pause)
	}
	return nil
}

// StreamRelay is a loopback TCP relay towards one target that forwards
// each direction in small pieces with occasional pauses: a modem's or a
// slow link's fragmented delivery. An orderly close on one side is passed
// on as an orderly close (half-close) on the other.
type StreamRelay struct {
	ln     net.Listener
	target string
	f      Fragmentation

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
	n      uint64
	wg     sync.WaitGroup
}

// NewStreamRelay starts a fragmenting relay on 127.0.0.1 (ephemeral port)
// towards target.
func NewStreamRelay(target string, f Fragmentation) (*StreamRelay, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if f.MaxChunk == 0 {
		f.MaxChunk = 8
	}
	if f.PauseFor == 0 {
		f.PauseFor = time.Millisecond
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &StreamRelay{ln: ln, target: target, f: f, conns: map[net.Conn]struct{}{}}
	r.wg.Add(1)
	go r.accept()
	return r, nil
}

// Addr is the relay's "127.0.0.1:port" address.
func (r *StreamRelay) Addr() string { return r.ln.Addr().String() }

// Close stops the relay, closes its connections and waits for its
// goroutines.
func (r *StreamRelay) Close() error {
	err := r.ln.Close()
	r.mu.Lock()
	r.closed = true
	for c := range r.conns {
		_ = c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
	return err
}

func (r *StreamRelay) track(cs ...net.Conn) (uint64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, false
	}
	for _, c := range cs {
		r.conns[c] = struct{}{}
	}
	r.n++
	return r.n, true
}

func (r *StreamRelay) untrack(cs ...net.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range cs {
		delete(r.conns, c)
		_ = c.Close()
	}
}

func (r *StreamRelay) accept() {
	defer r.wg.Done()
	for {
		client, err := r.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.DialTimeout("tcp", r.target, 10*time.Second)
		if err != nil {
			reset(client)
			continue
		}
		id, ok := r.track(client, up)
		if !ok {
			_ = client.Close()
			_ = up.Close()
			return
		}
		var pair sync.WaitGroup
		pair.Add(2)
		r.wg.Add(3)
		go func() { defer r.wg.Done(); defer pair.Done(); r.pump(up, client, id*2) }()
		go func() { defer r.wg.Done(); defer pair.Done(); r.pump(client, up, id*2+1) }()
		go func() { defer r.wg.Done(); pair.Wait(); r.untrack(client, up) }()
	}
}

// pump copies src to dst in fragments until src ends, then half-closes
// dst (or resets it when src was reset).
func (r *StreamRelay) pump(dst, src net.Conn, stream uint64) {
	rng := rand.New(rand.NewPCG(r.f.Seed, stream))
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for p := buf[:n]; len(p) > 0; {
			k := min(len(p), 1+rng.IntN(r.f.MaxChunk))
			if _, werr := dst.Write(p[:k]); werr != nil {
				_ = src.Close()
				return
			}
			p = p[k:]
			if r.f.Pause > 0 && rng.Float64() < r.f.Pause {
				time.Sleep(r.f.PauseFor)
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				if tc, ok := dst.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
					return
				}
			}
			reset(dst)
			return
		}
	}
}
