package peer

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Stream is a loopback TCP (or TLS) echo server that obeys the control
// protocol of the package documentation. It is safe for concurrent use.
type Stream struct {
	ln     net.Listener
	tls    *tls.Config
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// NewStream starts a stream peer on 127.0.0.1 with an ephemeral port. With
// a non-nil tlsConfig every connection is TLS; the handshake must complete
// within 10 s. log may be nil. Close stops it.
func NewStream(tlsConfig *tls.Config, log *slog.Logger) (*Stream, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Stream{ln: ln, tls: tlsConfig, log: log, ctx: ctx, cancel: cancel, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the peer's "127.0.0.1:port" address.
func (s *Stream) Addr() string { return s.ln.Addr().String() }

// Close stops accepting, closes every open connection and waits for the
// peer's goroutines to end.
func (s *Stream) Close() error {
	s.cancel()
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *Stream) accept() {
	defer s.wg.Done()
	for {
		raw, err := s.ln.Accept()
		if err != nil {
			return
		}
		if !s.track(raw) {
			_ = raw.Close()
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.untrack(raw)
			s.serve(raw)
		}()
	}
}

func (s *Stream) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx.Err() != nil {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Stream) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	_ = c.Close()
}

// serve runs one connection: optional TLS handshake, one command line,
// then the command's behaviour.
func (s *Stream) serve(raw net.Conn) {
	conn := raw
	if s.tls != nil {
		tc := tls.Server(raw, s.tls)
		_ = raw.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.HandshakeContext(s.ctx); err != nil {
			s.log.Debug("peer: tls handshake failed", "err", err)
			return
		}
		_ = raw.SetDeadline(time.Time{})
		conn = tc
	}
	br := bufio.NewReaderSize(conn, 32<<10)
	line, err := readLine(br)
	if err != nil {
		s.log.Debug("peer: no command", "err", err)
		return
	}
	cmd, err := ParseCommand(line)
	if err != nil {
		s.log.Debug("peer: refusing connection", "err", err)
		reset(raw)
		return
	}
	s.log.Debug("peer: command", "cmd", cmd.String())
	switch cmd.Op {
	case OpFIN:
		_ = conn.Close()
	case OpRST:
		reset(raw)
	case OpDelay:
		t := time.NewTimer(time.Duration(cmd.N) * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
		case <-s.ctx.Done():
			return
		}
		echo(conn, br)
	case OpEcho:
		echo(conn, br)
	case OpChargen:
		chargen(conn, cmd.N)
		_ = conn.Close()
	case OpDiscard:
		_, _ = io.Copy(io.Discard, br)
	case OpHold:
		<-s.ctx.Done()
	}
}

// readLine reads one "\n"-terminated line of at most maxLineBytes.
func readLine(br *bufio.Reader) (string, error) {
	var line []byte
	for len(line) <= maxLineBytes {
		b, err := br.ReadByte()
		if err != nil {
			return "", err
		}
		if b == '\n' {
			return string(line), nil
		}
		line = append(line, b)
	}
	return "", errors.New("peer: command line too long")
}

// echo copies everything read back to the client, then closes with FIN.
func echo(conn net.Conn, r io.Reader) {
	_, _ = io.Copy(conn, r)
	_ = conn.Close()
}

func chargen(w io.Writer, n int) {
	buf := make([]byte, 16<<10)
	for off := 0; off < n; {
		k := min(len(buf), n-off)
		for i := range k {
			buf[i] = Pattern(off + i)
		}
		if _, err := w.Write(buf[:k]); err != nil {
			return
		}
		off += k
	}
}

// reset closes the TCP connection under raw abortively (RST).
func reset(raw net.Conn) {
	if tc, ok := raw.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = raw.Close()
}
