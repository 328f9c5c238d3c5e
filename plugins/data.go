package plugins

import (
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/iotd/iotd/plugins/internal/wire"
)

// tokenWait bounds how long an accepted data socket has to present its
// token.
const tokenWait = 10 * time.Second

// dataListener is where a plugin process connects the data channels of
// each connection: a Unix socket in go-plugin's directory for that process,
// which only this user can enter (0700), and a one-time token per
// connection that travelled only over the mutually authenticated gRPC
// connection. Each token admits one socket of each kind, once.
type dataListener struct {
	ln   net.Listener
	path string

	mu      sync.Mutex // guards pending
	pending map[[wire.TokenSize]byte]*arrivals
	done    chan struct{}
}

// arrivals are the sockets that presented one token: the framed channel
// and, for a stream conn, the raw one.
type arrivals struct {
	framed, raw chan net.Conn // buffered; one send each at most
}

// listenData listens on a socket in dir, a private directory.
func listenData(dir string) (*dataListener, error) {
	if dir == "" {
		return nil, errors.New("no private socket directory")
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, errors.New("the socket directory " + dir + " is open to other users (" + fi.Mode().Perm().String() + ")")
	}
	path := filepath.Join(dir, "iotd-data.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	l := &dataListener{ln: ln, path: path, pending: make(map[[wire.TokenSize]byte]*arrivals), done: make(chan struct{})}
	go l.serve()
	return l, nil
}

func (l *dataListener) serve() {
	defer close(l.done)
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		go l.admit(c)
	}
}

// admit hands c to the dial whose token it presents, as the kind of
// channel it names (wire.ChannelFramed or wire.ChannelRaw), or closes it.
func (l *dataListener) admit(c net.Conn) {
	var hello [wire.TokenSize + 1]byte
	_ = c.SetReadDeadline(time.Now().Add(tokenWait))
	if _, err := io.ReadFull(c, hello[:]); err != nil {
		_ = c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	tok := [wire.TokenSize]byte(hello[:wire.TokenSize])
	l.mu.Lock()
	defer l.mu.Unlock()
	a, ok := l.pending[tok]
	var ch chan net.Conn
	switch {
	case !ok:
	case hello[wire.TokenSize] == wire.ChannelFramed:
		ch, a.framed = a.framed, nil
	case hello[wire.TokenSize] == wire.ChannelRaw:
		ch, a.raw = a.raw, nil
	}
	if ch == nil {
		_ = c.Close()
		return
	}
	if a.framed == nil && a.raw == nil {
		delete(l.pending, tok)
	}
	ch <- c // buffered, and the only send: never blocks
}

// expect registers a fresh token. The sockets that present it arrive on
// the channels (raw only when raw is set); cancel forgets the token and
// closes the sockets that came but were not taken.
func (l *dataListener) expect(raw bool) (token []byte, framed, rawc <-chan net.Conn, cancel func()) {
	var tok [wire.TokenSize]byte
	_, _ = rand.Read(tok[:]) // never fails (crypto/rand)
	fch, rch := make(chan net.Conn, 1), make(chan net.Conn, 1)
	a := &arrivals{framed: fch}
	if raw {
		a.raw = rch
	}
	l.mu.Lock()
	l.pending[tok] = a
	l.mu.Unlock()
	return tok[:], fch, rch, func() {
		l.mu.Lock()
		delete(l.pending, tok)
		l.mu.Unlock()
		for _, ch := range []chan net.Conn{fch, rch} {
			select {
			case c := <-ch:
				_ = c.Close()
			default:
			}
		}
	}
}

// close stops listening; channels already handed over stay open.
func (l *dataListener) close() {
	_ = l.ln.Close()
	<-l.done
}
