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

// dataListener is where a plugin process connects the data channel of each
// connection: a Unix socket in go-plugin's directory for that process,
// which only this user can enter (0700), and a one-time token per channel
// that travelled only over the mutually authenticated gRPC connection.
type dataListener struct {
	ln   net.Listener
	path string

	mu      sync.Mutex // guards pending
	pending map[[wire.TokenSize]byte]chan net.Conn
	done    chan struct{}
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
	l := &dataListener{ln: ln, path: path, pending: make(map[[wire.TokenSize]byte]chan net.Conn), done: make(chan struct{})}
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

// admit hands c to the dial whose token it presents, or closes it.
func (l *dataListener) admit(c net.Conn) {
	var tok [wire.TokenSize]byte
	_ = c.SetReadDeadline(time.Now().Add(tokenWait))
	if _, err := io.ReadFull(c, tok[:]); err != nil {
		_ = c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	l.mu.Lock()
	defer l.mu.Unlock()
	ch, ok := l.pending[tok]
	if !ok {
		_ = c.Close()
		return
	}
	delete(l.pending, tok)
	ch <- c // buffered, and the only send: never blocks
}

// expect registers a fresh token. The data socket that presents it arrives
// on the channel; cancel forgets the token and closes a socket that came
// but was not taken.
func (l *dataListener) expect() (token []byte, conns <-chan net.Conn, cancel func()) {
	var tok [wire.TokenSize]byte
	_, _ = rand.Read(tok[:]) // never fails (crypto/rand)
	ch := make(chan net.Conn, 1)
	l.mu.Lock()
	l.pending[tok] = ch
	l.mu.Unlock()
	return tok[:], ch, func() {
		l.mu.Lock()
		delete(l.pending, tok)
		l.mu.Unlock()
		select {
		case c := <-ch:
			_ = c.Close()
		default:
		}
	}
}

// close stops listening; channels already handed over stay open.
func (l *dataListener) close() {
	_ = l.ln.Close()
	<-l.done
}
