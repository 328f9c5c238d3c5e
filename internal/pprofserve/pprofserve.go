// Package pprofserve serves the runtime's profiles (heap, goroutines, CPU) on an address
// of its own, apart from any API a command serves: `hubsim serve --pprof` and
// `fleet -pprof`, to profile a fleet run while it runs.
package pprofserve

import (
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// Serve serves net/http/pprof on addr until stop is called.
func Serve(addr string) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the profiles are a debugging aid: the hub runs on without them
		}
	}()
	return func() { _ = srv.Close(); <-done }, nil
}
