package logupload

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLevelRequestIsTheSDKs: the hub receives the C SDK's get_log_level
// text byte for byte (sdk_src/services/log/log_mqtt.c), token from 1.
func TestLevelRequestIsTheSDKs(t *testing.T) {
	r := newRig(t, "PLOGWIRE01")
	u := r.start(t, Config{FlushInterval: time.Hour})
	require.Eventually(t, func() bool { return u.Stats().LevelUpdates > 0 }, 10*time.Second, 10*time.Millisecond)
	var got []string
	for _, m := range r.hub.Messages(r.pid, "dev") {
		if m.Topic == OperationTopic(r.pid, "dev") {
			got = append(got, m.Payload)
		}
	}
	require.NotEmpty(t, got)
	assert.Equal(t, `{"type": "get_log_level", "clientToken": "PLOGWIRE01-1"}`, got[0])
}

// TestPostHeadersAreTheSDKs: a log POST carries the C SDK's Accept and
// Content-Type, no User-Agent, and closes its connection
// (sdk_src/services/log/log_upload.c).
func TestPostHeadersAreTheSDKs(t *testing.T) {
	r := newRig(t, "PLOGWIRE02")
	type seen struct {
		header http.Header
		close  bool
	}
	ch := make(chan seen, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		ch <- seen{header: req.Header.Clone(), close: req.Close}
		_, _ = io.WriteString(w, `{"Retcode":0,"Msg":"ok"}`)
	}))
	t.Cleanup(srv.Close)
	u, err := New(Config{FlushInterval: time.Hour, Level: intp(4), URL: srv.URL + "/cgi-bin/report-log"}, r.dev.Bus, r.dev.Info, nil, nil, nil)
	require.NoError(t, err)
	runFor(t, u)
	require.True(t, u.Add(slog.LevelError, "app", "one line"))
	require.Eventually(t, func() bool { return len(u.queue) == 0 }, 5*time.Second, time.Millisecond)
	require.NoError(t, u.Flush(context.Background()))
	s := <-ch
	assert.Equal(t, "application/json;*/*", s.header.Get("Accept"))
	assert.Equal(t, "text/plain;charset=utf-8", s.header.Get("Content-Type"))
	assert.True(t, s.close, "one POST per connection, as the SDK")
	// Accept-Encoding is added by Go's transport, not by this package.
	assert.Equal(t, []string{"Accept", "Accept-Encoding", "Connection", "Content-Length", "Content-Type"}, slices.Sorted(maps.Keys(s.header)), "no User-Agent")
}
