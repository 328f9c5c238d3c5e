package feature

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWriteJSON(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteJSON(rec, http.StatusCreated, map[string]int{"n": 1})
	assert.Equal(t, http.StatusCreated, rec.Code)
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	assert.Equal(t, "{\"n\":1}\n", rec.Body.String())
}

func TestWriteError(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteError(rec, http.StatusConflict, errors.New(`shadow: "off"`))
	assert.Equal(t, http.StatusConflict, rec.Code)
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	assert.JSONEq(t, `{"error": "shadow: \"off\""}`, rec.Body.String())
}

func TestDecodeBody(t *testing.T) {
	type req struct {
		Topic string `json:"topic"`
		QoS   int    `json:"qos"`
	}
	decode := func(body string, limit int64) (req, *httptest.ResponseRecorder, bool) {
		rec := httptest.NewRecorder()
		var v req
		ok := DecodeBody(rec, httptest.NewRequest("POST", "/v1/x", strings.NewReader(body)), limit, "shadow report", &v)
		return v, rec, ok
	}
	v, rec, ok := decode(`{"topic":"event","qos":1}`, 100)
	assert.True(t, ok)
	assert.Equal(t, req{Topic: "event", QoS: 1}, v)
	assert.Equal(t, 0, rec.Body.Len(), "nothing answered on success")

	tests := map[string]struct {
		body  string
		limit int64
		want  string
	}{
		"unknown field": {`{"topic":"event","qso":1}`, 100, `shadow report: bad request body: json: unknown field "qso"`},
		"wrong type":    {`{"qos":"one"}`, 100, "shadow report: bad request body: json: cannot unmarshal string into Go struct field req.qos of type int"},
		"not JSON":      {`topic=event`, 100, "shadow report: bad request body: invalid character 'o' in literal true (expecting 'r')"},
		"empty":         {``, 100, "shadow report: bad request body: EOF"},
		"over the limit": {`{"topic":"` + strings.Repeat("x", 100) + `"}`, 50,
			"shadow report: bad request body: http: request body too large"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, rec, ok := decode(tt.body, tt.limit)
			assert.False(t, ok)
			assert.Equal(t, http.StatusBadRequest, rec.Code)
			var e struct{ Error string }
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &e))
			assert.Equal(t, tt.want, e.Error)
		})
	}
	// Exactly at the limit is fine.
	body := `{"topic":"abc"}`
	_, _, ok = decode(body, int64(len(body)))
	assert.True(t, ok)
}

func TestStreamJSON(t *testing.T) {
	ch := make(chan int)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		StreamJSON(w, ch, func(n int) any { return map[string]int{"n": n} })
	}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	// The header is flushed before the first value.
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/x-ndjson", resp.Header.Get("Content-Type"))
	lines := bufio.NewScanner(resp.Body)
	for n := range 3 {
		ch <- n
		// Each value arrives on its own, flushed, before the next is sent.
		require.True(t, lines.Scan())
		assert.JSONEq(t, `{"n":`+string(rune('0'+n))+`}`, lines.Text())
	}
	close(ch)
	assert.False(t, lines.Scan(), "the stream ends when the channel closes")
	assert.NoError(t, lines.Err())
}

// A client that goes away ends the stream: the writer fails and
// StreamJSON returns without draining the channel.
func TestStreamJSONClientGone(t *testing.T) {
	ch := make(chan int)
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		StreamJSON(w, ch, func(n int) any { return strings.Repeat("x", 1<<16) })
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	cancel()
	resp.Body.Close()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ch <- 1:
		case <-done:
			return
		case <-deadline:
			t.Fatal("StreamJSON kept writing to a client that went away")
		}
	}
}

func TestPayload(t *testing.T) {
	b, err := Payload("hi", "")
	assert.NoError(t, err)
	assert.Equal(t, []byte("hi"), b)
	b, err = Payload("", "aGk=")
	assert.NoError(t, err)
	assert.Equal(t, []byte("hi"), b)
	_, err = Payload("hi", "aGk=")
	assert.ErrorIs(t, err, ErrBothPayloads)
	_, err = Payload("", "!!")
	assert.Error(t, err)
	b, err = Payload("", "")
	assert.NoError(t, err)
	assert.Empty(t, b)
}
