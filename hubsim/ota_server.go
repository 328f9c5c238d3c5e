package hubsim

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// OTAAddrEnv names the environment variable that sets the firmware HTTPS
// server's listen address (default 127.0.0.1:0, a free port; GET /ota/info
// tells which).
const OTAAddrEnv = "HUBSIM_OTA_ADDR"

// otaPiece is the largest write the file server makes at once, so a rate
// limit and a cut-off apply finely.
const otaPiece = 8 << 10

// maxOTARequests is how many served requests are remembered.
const maxOTARequests = 1000

// OTAFaults changes how the firmware server answers, for tests.
type OTAFaults struct {
	// Status, when set (e.g. 404, 403), answers every download with it.
	Status int `json:"status,omitempty"`
	// CloseAfter, when positive, cuts the next download's body after this
	// many bytes by closing the connection (once).
	CloseAfter int64 `json:"close_after,omitempty"`
	// Rate, when positive, limits each download to this many bytes/second.
	Rate int64 `json:"rate,omitempty"`
}

// OTARequest is one download the firmware server answered.
type OTARequest struct {
	Time   time.Time `json:"time"`
	Path   string    `json:"path"`
	Range  string    `json:"range,omitempty"`
	Status int       `json:"status"`
	// Bytes of body written to the connection.
	Bytes int64 `json:"bytes"`
	// Cut is set when the connection was closed on purpose (CloseAfter).
	Cut bool `json:"cut,omitempty"`
}

// OTAInfo describes the firmware server.
type OTAInfo struct {
	// BaseURL is like https://127.0.0.1:PORT/ota/files/; its certificate is
	// issued by the hub's CA.
	BaseURL     string        `json:"base_url"`
	Addr        string        `json:"addr"`
	BytesServed int64         `json:"bytes_served"`
	Requests    []OTARequest  `json:"requests"`
	Firmware    []OTAFirmware `json:"firmware"`
	Faults      OTAFaults     `json:"faults"`
}

type otaServer struct {
	ln     net.Listener
	srv    *http.Server
	served atomic.Int64

	mu     sync.Mutex
	faults OTAFaults
	reqs   []OTARequest
}

func startOTAServer(h *Hub, lookup func(string) (*firmwareFile, bool)) (*otaServer, error) {
	addr := os.Getenv(OTAAddrEnv)
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("hubsim: OTA file server %s (set %s): %w", addr, OTAAddrEnv, err)
	}
	s := &otaServer{ln: ln}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ota/files/{name}", func(w http.ResponseWriter, r *http.Request) {
		f, ok := lookup(r.PathValue("name"))
		s.serve(w, r, f, ok)
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(h.log.Handler(), slog.LevelDebug)}
	tl := tls.NewListener(ln, serverTLSConfig(h.state.Server, h.ca))
	h.Go(func(ctx context.Context) {
		if err := s.srv.Serve(tl); err != nil && !errors.Is(err, http.ErrServerClosed) {
			h.log.Error("OTA file server stopped", "error", err)
		}
	})
	return s, nil
}

func (s *otaServer) close() { _ = s.srv.Close() }

func (s *otaServer) url(name string) string {
	return "https://" + s.ln.Addr().String() + "/ota/files/" + url.PathEscape(name)
}

func (s *otaServer) serve(w http.ResponseWriter, r *http.Request, f *firmwareFile, ok bool) {
	s.mu.Lock()
	fl := s.faults
	s.faults.CloseAfter = 0 // one-shot
	s.mu.Unlock()
	rec := OTARequest{Time: time.Now(), Path: r.URL.Path, Range: r.Header.Get("Range")}
	cw := &countingWriter{ResponseWriter: w, limit: -1, rate: fl.Rate, done: r.Context().Done(), total: &s.served}
	if fl.CloseAfter > 0 {
		cw.limit = fl.CloseAfter
	}
	defer func() {
		rec.Bytes, rec.Cut = cw.n, cw.cut
		if rec.Status == 0 {
			rec.Status = cw.status
		}
		s.record(rec)
	}()
	switch {
	case fl.Status != 0:
		rec.Status = fl.Status
		http.Error(w, http.StatusText(fl.Status), fl.Status)
	case !ok:
		rec.Status = http.StatusNotFound
		http.NotFound(w, r)
	default:
		http.ServeContent(cw, r, f.Name, f.modified, bytes.NewReader(f.data))
	}
}

func (s *otaServer) record(r OTARequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, r)
	if len(s.reqs) > maxOTARequests {
		s.reqs = s.reqs[len(s.reqs)-maxOTARequests:]
	}
}

// countingWriter counts body bytes, writes in small pieces at a limited
// rate, and aborts the connection after limit bytes.
type countingWriter struct {
	http.ResponseWriter
	n, limit int64
	rate     int64
	done     <-chan struct{}
	total    *atomic.Int64
	status   int
	cut      bool
}

func (c *countingWriter) WriteHeader(code int) {
	c.status = code
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	written := 0
	for len(p) > 0 {
		piece := p[:min(len(p), otaPiece)]
		if c.limit >= 0 {
			if c.n >= c.limit {
				c.cut = true
				if fl, ok := c.ResponseWriter.(http.Flusher); ok {
					fl.Flush()
				}
				panic(http.ErrAbortHandler) // net/http closes the connection
			}
			piece = piece[:min(int64(len(piece)), c.limit-c.n)]
		}
		if c.rate > 0 {
			t := time.NewTimer(time.Duration(int64(len(piece)) * int64(time.Second) / c.rate))
			select {
			case <-t.C:
			case <-c.done:
				t.Stop()
				return written, errors.New("hubsim: client gone")
			}
		}
		n, err := c.ResponseWriter.Write(piece)
		c.n += int64(n)
		c.total.Add(int64(n))
		written += n
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

// SetFaults replaces the firmware server's faults.
func (s *OTAService) SetFaults(f OTAFaults) error {
	if f.Status != 0 && (f.Status < 400 || f.Status > 599) {
		return fmt.Errorf("%w: fault status %d: use 400 to 599 (0: none)", ErrInvalid, f.Status)
	}
	if f.CloseAfter < 0 || f.Rate < 0 {
		return fmt.Errorf("%w: close_after and rate must not be negative", ErrInvalid)
	}
	s.srv.mu.Lock()
	s.srv.faults = f
	s.srv.mu.Unlock()
	return nil
}

// BytesServed is the total of firmware body bytes written since start.
func (s *OTAService) BytesServed() int64 { return s.srv.served.Load() }

// Info describes the firmware server, its uploads and the requests served.
func (s *OTAService) Info() OTAInfo {
	s.srv.mu.Lock()
	info := OTAInfo{BaseURL: s.srv.url(""), Addr: s.srv.ln.Addr().String(), BytesServed: s.srv.served.Load(),
		Requests: append([]OTARequest{}, s.srv.reqs...), Faults: s.srv.faults}
	s.srv.mu.Unlock()
	s.mu.Lock()
	for _, f := range s.firmware {
		info.Firmware = append(info.Firmware, f.OTAFirmware)
	}
	s.mu.Unlock()
	slices.SortFunc(info.Firmware, func(a, b OTAFirmware) int { return strings.Compare(a.Name, b.Name) })
	if info.Firmware == nil {
		info.Firmware = []OTAFirmware{}
	}
	return info
}
