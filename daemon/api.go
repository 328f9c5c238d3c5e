package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"golang.org/x/net/netutil"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/feature"
	"github.com/iotd/iotd/localapi"
)

// The local API: HTTP/1.1 over a Unix socket, JSON bodies, the wire types
// and paths of package localapi (whose doc has the route table). The
// handlers map the features' state to those types; nothing of a feature's
// own types goes over the wire.
//
// A filter's cloud subscription lasts while anyone holds it: the
// /v1/subscribe streams and iotd's features. When the last stream on a
// filter ends, the filter is unsubscribed; DELETE drops it at once.
//
// Request bodies larger than [localapi.MaxRequestBody] are refused with
// 413. A request's headers must arrive within 5 s and the whole request
// within 15 s; an idle keep-alive connection is closed after 60 s, and at
// most 256 connections are served at a time (more wait to be accepted).
// Responses, streams included, are not bounded in time.

// apiLimits bound what a local client can hold of the daemon.
type apiLimits struct {
	// HeaderTimeout bounds the wait for a request's headers, from the
	// connection's start or its first byte after an idle keep-alive.
	HeaderTimeout time.Duration
	// ReadTimeout bounds the reading of a whole request, body included.
	// It does not bound a response: net/http clears the deadline once the
	// body is read (at once for a GET), so streams outlive it.
	ReadTimeout time.Duration
	// IdleTimeout closes a keep-alive connection with no request.
	IdleTimeout time.Duration
	// MaxConns bounds the connections served at a time; more wait in the
	// listen queue until one closes.
	MaxConns int
}

var defaultAPILimits = apiLimits{
	HeaderTimeout: 5 * time.Second,
	ReadTimeout:   15 * time.Second,
	IdleTimeout:   60 * time.Second,
	MaxConns:      256,
}

type apiServer struct {
	d      *Daemon
	muxes  map[string]*http.ServeMux // each device's routes, by name
	ln     net.Listener
	srv    *http.Server
	limits apiLimits
	path   string
	sock   os.FileInfo // the socket file as created, to remove only that
}

// listenAPI binds the socket, refusing to steal one a live daemon serves
// or to remove anything at the path that is not a socket.
func (d *Daemon) listenAPI() (*apiServer, error) {
	return d.listenAPIWith(defaultAPILimits)
}

func (d *Daemon) listenAPIWith(limits apiLimits) (*apiServer, error) {
	path := d.cfg.SocketPath()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	if err := removeStaleSocket(path); err != nil {
		return nil, err
	}
	// Only the daemon's user may talk to it: the API can publish as the
	// device (api_listen_unix.go: 0600; api_listen_windows.go: the
	// directory's ACL).
	ul, err := listenPrivate(path)
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	// Close would unlink whatever is at the path by then; serve removes
	// the socket itself, and only if it is still this one.
	ul.SetUnlinkOnClose(false)
	sock, err := os.Lstat(path)
	if err != nil {
		ul.Close()
		return nil, fmt.Errorf("api: %w", err)
	}
	s := &apiServer{d: d, ln: netutil.LimitListener(ul, limits.MaxConns), limits: limits, path: path, sock: sock}
	s.srv = &http.Server{
		Handler:           s.readBody(s.routes()),
		ReadHeaderTimeout: limits.HeaderTimeout,
		ReadTimeout:       limits.ReadTimeout,
		IdleTimeout:       limits.IdleTimeout,
	}
	return s, nil
}

// removeStaleSocket removes the socket at path that a crashed daemon left,
// and refuses when a daemon answers there or the path is not a socket.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("api: %s is %s, not a socket; refusing to remove it: choose another socket path", path, fileKind(fi.Mode()))
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("api: another iotd is already serving %s", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("api: stale socket: %w", err)
	}
	return nil
}

// fileKind names the type of file m describes, with its article.
func fileKind(m fs.FileMode) string {
	switch m.Type() {
	case 0:
		return "a regular file"
	case fs.ModeDir:
		return "a directory"
	case fs.ModeSymlink:
		return "a symbolic link"
	case fs.ModeNamedPipe:
		return "a named pipe"
	case fs.ModeDevice, fs.ModeDevice | fs.ModeCharDevice:
		return "a device"
	}
	return "a special file (" + m.Type().String() + ")"
}

func (s *apiServer) serve(ctx context.Context) error {
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = s.srv.Shutdown(sctx)
		_ = s.srv.Close()
	}()
	err := s.srv.Serve(s.ln)
	s.removeSocket()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// removeSocket removes the socket file, unless the path no longer names
// the one listenAPI created (another daemon's socket, or a file someone
// put there).
func (s *apiServer) removeSocket() {
	fi, err := os.Lstat(s.path)
	if err != nil {
		return
	}
	if !os.SameFile(fi, s.sock) {
		s.d.log.Warn("api: the socket path now names another file; left in place", "path", s.path)
		return
	}
	_ = os.Remove(s.path)
}

// readBody reads a request's body before the handler runs, at most
// localapi.MaxRequestBody bytes, refusing a larger one with 413. Handlers then read
// it from memory. A publish stream's body is not one request: its handler
// reads it line by line, each line under that limit.
func (s *apiServer) readBody(next http.Handler) http.Handler {
	streamTail := strings.TrimPrefix(localapi.PathPublishStream, "/v1")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody || strings.HasSuffix(r.URL.Path, streamTail) {
			next.ServeHTTP(w, r)
			return
		}
		refuse := func(code int, err error) {
			w.Header().Set("Connection", "close")
			feature.WriteError(w, code, err)
		}
		tooLarge := func() {
			// Read on, up to another localapi.MaxRequestBody, so that a client
			// still writing the body gets to read the answer instead of
			// a broken pipe.
			_, _ = io.CopyN(io.Discard, r.Body, localapi.MaxRequestBody)
			refuse(http.StatusRequestEntityTooLarge, fmt.Errorf("api: request body over the %d-byte (1 MiB) limit", localapi.MaxRequestBody))
		}
		if r.ContentLength > localapi.MaxRequestBody {
			tooLarge()
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, localapi.MaxRequestBody+1))
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			refuse(http.StatusRequestTimeout, fmt.Errorf("api: request not received within %s", s.limits.ReadTimeout))
			return
		case err != nil:
			refuse(http.StatusBadRequest, fmt.Errorf("api: request body: %w", err))
			return
		case len(body) > localapi.MaxRequestBody:
			tooLarge()
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

func (s *deviceAPI) status(w http.ResponseWriter, r *http.Request) {
	st := s.d.Status()
	ctx, cancel := context.WithTimeout(r.Context(), statusModemWait)
	defer cancel()
	st.Modems = modemsToWire(modems(ctx, s.d.reg, true))
	feature.WriteJSON(w, http.StatusOK, st)
}

func (s *deviceAPI) subscribe(w http.ResponseWriter, r *http.Request) {
	filter := s.d.ExpandTopic(r.URL.Query().Get("filter"))
	qos, _ := strconv.Atoi(r.URL.Query().Get("qos"))
	if err := s.d.CheckTopic(filter, true); err != nil {
		feature.WriteError(w, http.StatusForbidden, err)
		return
	}
	if qos != 0 && qos != 1 {
		feature.WriteError(w, http.StatusBadRequest, fmt.Errorf("subscribe: qos %d: the hub supports 0 and 1", qos))
		return
	}
	ch, err := s.d.dev.Bus().CloudSubscribe(r.Context(), filter, byte(qos))
	if err != nil {
		feature.WriteError(w, http.StatusBadGateway, err)
		return
	}
	feature.StreamJSON(w, ch, func(m *message.Message) any {
		m.Ack()
		q, _ := strconv.Atoi(m.Metadata.Get(bus.MetaQoS))
		out := localapi.Message{Topic: m.Metadata.Get(bus.MetaTopic), QoS: q, ReceivedAt: time.Now().UTC()}
		out.Payload, out.PayloadBase64 = localapi.TextOrBase64(m.Payload)
		return out
	})
}

func (s *apiServer) drivers(w http.ResponseWriter, r *http.Request) {
	feature.WriteJSON(w, http.StatusOK, ProbeDrivers(r.Context(), s.d.reg))
}

// ProbeDrivers probes the drivers of reg (each for at most 5 s) and
// reports them as GET /v1/drivers does.
func ProbeDrivers(ctx context.Context, reg *core.Registry) []localapi.ProbeResult {
	res := reg.Probe(ctx, 5*time.Second)
	out := make([]localapi.ProbeResult, len(res))
	for i, p := range res {
		ts := make([]string, len(p.Transports))
		for j, t := range p.Transports {
			ts[j] = string(t)
		}
		out[i] = localapi.ProbeResult{Name: p.Name, Transports: ts, Version: p.Version, State: string(p.State), Err: p.Err, Duration: p.Duration}
	}
	return out
}
