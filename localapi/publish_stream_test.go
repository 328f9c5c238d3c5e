package localapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// streamDaemon answers POST /v1/devices/b/publish/stream by echoing each
// line as acknowledged (after an empty keep-alive line), and stops after
// stopAfter lines when it is set.
func streamDaemon(t *testing.T, stopAfter int) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "iotd.sock")
	ln, err := net.Listen("unix", sock)
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/devices/b/publish/stream" {
			http.Error(w, `{"error":"no such route"}`, http.StatusNotFound)
			return
		}
		rc := http.NewResponseController(w)
		require.NoError(t, rc.EnableFullDuplex())
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("\n"))
		_ = rc.Flush()
		sc := bufio.NewScanner(r.Body)
		var n int64
		for sc.Scan() {
			n++
			if stopAfter > 0 && n > int64(stopAfter) {
				return
			}
			var req PublishStreamRequest
			require.NoError(t, json.Unmarshal(sc.Bytes(), &req))
			res := PublishStreamResult{Line: n, ID: req.ID, PublishResponse: PublishResponse{Topic: "P/D/" + req.Topic, Result: Acknowledged}}
			b, _ := json.Marshal(res)
			_, _ = w.Write(append(b, '\n'))
			_ = rc.Flush()
		}
	}))
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return sock
}

// PublishStream addresses the device ForDevice chose; each Send gets its
// line number, each line one result with its ID; after Close, Results ends
// without an error once all are in.
func TestPublishStreamClient(t *testing.T) {
	c := New(streamDaemon(t, 0))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := c.PublishStream(ctx)
	var apiErr *Error
	require.ErrorAs(t, err, &apiErr, "without ForDevice the fake has no route")
	assert.Equal(t, http.StatusNotFound, apiErr.StatusCode)

	s, err := c.ForDevice("b").PublishStream(ctx)
	require.NoError(t, err)
	const n = 5000
	go func() {
		for i := range n {
			line, err := s.Send(PublishStreamRequest{ID: fmt.Sprint("m", i), PublishRequest: PublishRequest{Topic: "event", Payload: "x"}})
			if !assert.NoError(t, err) || !assert.EqualValues(t, i+1, line) {
				return
			}
		}
		assert.NoError(t, s.Close())
		_, err := s.Send(PublishStreamRequest{})
		assert.ErrorIs(t, err, ErrStreamSendClosed)
	}()
	var got int64
	for r, err := range s.Results() {
		require.NoError(t, err)
		got++
		assert.Equal(t, got, r.Line)
		assert.Equal(t, fmt.Sprint("m", got-1), r.ID)
		assert.False(t, r.Failed())
	}
	assert.EqualValues(t, n, got)
}

// A stream the daemon ends before every line has its result ends Results
// with ErrStreamClosed; Send then fails.
func TestPublishStreamClosedEarly(t *testing.T) {
	c := New(streamDaemon(t, 3)).ForDevice("b")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := c.PublishStream(ctx)
	require.NoError(t, err)
	for range 10 {
		_, _ = s.Send(PublishStreamRequest{PublishRequest: PublishRequest{Topic: "event"}})
	}
	require.NoError(t, s.Close())
	var last error
	var got int
	for _, err := range s.Results() {
		if err != nil {
			last = err
			continue
		}
		got++
	}
	assert.Equal(t, 3, got)
	assert.True(t, errors.Is(last, ErrStreamClosed), "%v", last)
	_, err = s.Send(PublishStreamRequest{})
	assert.Error(t, err)
}
