package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"iter"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeDaemon answers on a Unix socket with what the test sets, and records
// each request.
type fakeDaemon struct {
	socket string
	mu     sync.Mutex
	seen   []seenRequest
	code   int
	answer string
}

type seenRequest struct {
	Method, URI, Body string
}

func newFakeDaemon(t *testing.T) *fakeDaemon {
	t.Helper()
	f := &fakeDaemon{socket: filepath.Join(t.TempDir(), "iotd.sock"), code: http.StatusOK, answer: "{}"}
	ln, err := net.Listen("unix", f.socket)
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.seen = append(f.seen, seenRequest{r.Method, r.RequestURI, string(b)})
		code, answer := f.code, f.answer
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, answer)
	}))
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return f
}

func (f *fakeDaemon) set(code int, answer string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.code, f.answer = code, answer
}

func (f *fakeDaemon) last(t *testing.T) seenRequest {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	require.NotEmpty(t, f.seen)
	return f.seen[len(f.seen)-1]
}

// Each method makes its request: method, path and query, body.
func TestClientRequests(t *testing.T) {
	f := newFakeDaemon(t)
	c := New(f.socket)
	ctx := context.Background()
	rows := []struct {
		name   string
		answer string
		call   func() (any, error)
		want   seenRequest
		result any
	}{
		{"status", `{"version":"1.2.3","link":{"state":"connected","driver":"tls","endpoint":"h:1","since":"0001-01-01T00:00:00Z"}}`,
			func() (any, error) { s, err := c.Status(ctx); return s.Link.State + " " + s.Version, err },
			seenRequest{"GET", "/v1/status", ""}, "connected 1.2.3"},
		{"drivers", `[{"name":"tcp","transports":["stream"],"state":"loaded","duration_ns":5}]`,
			func() (any, error) { return c.Drivers(ctx) },
			seenRequest{"GET", "/v1/drivers", ""}, []ProbeResult{{Name: "tcp", Transports: []string{"stream"}, State: ProbeLoaded, Duration: 5}}},
		{"publish", `{"topic":"p/d/event","result":"acknowledged"}`,
			func() (any, error) {
				return c.Publish(ctx, PublishRequest{Topic: "event", Payload: "hi", QoS: 1, Timeout: 500})
			},
			seenRequest{"POST", "/v1/publish", `{"topic":"event","payload":"hi","qos":1,"timeout_ms":500}`},
			PublishResponse{Topic: "p/d/event", Result: Acknowledged}},
		{"unsubscribe", `{"filter":"p/d/data","was_subscribed":true,"local_subscribers":2}`,
			func() (any, error) { return c.Unsubscribe(ctx, "data") },
			seenRequest{"DELETE", "/v1/subscribe?filter=data", ""}, UnsubscribeResult{Filter: "p/d/data", WasSubscribed: true, LocalSubscribers: 2}},
		{"log", `{"accepted":true}`,
			func() (any, error) { return c.Log(ctx, LogLine{Level: "warn", Text: "x"}) },
			seenRequest{"POST", "/v1/log", `{"level":"warn","text":"x"}`}, LogResult{Accepted: true}},
		{"shadow", `{"reported":{"a":1},"version":3}`,
			func() (any, error) { d, err := c.Shadow(ctx); return d.Version, err },
			seenRequest{"GET", "/v1/shadow", ""}, int64(3)},
		{"shadow of a sub-device", `{"reported":{},"version":4}`,
			func() (any, error) { d, err := c.WithSubDevice("PSUB/s1").Shadow(ctx); return d.Version, err },
			seenRequest{"GET", "/v1/shadow?device=PSUB%2Fs1", ""}, int64(4)},
		{"shadow get", `{"reported":{},"version":5}`,
			func() (any, error) { d, err := c.ShadowGet(ctx); return d.Version, err },
			seenRequest{"POST", "/v1/shadow/get", ""}, int64(5)},
		{"shadow report", `{"reported":{"mode":"eco"},"version":6}`,
			func() (any, error) {
				d, err := c.ShadowReport(ctx, ShadowReport{Reported: map[string]json.RawMessage{"mode": json.RawMessage(`"eco"`)}, ClearDesired: true})
				return d.Version, err
			},
			seenRequest{"POST", "/v1/shadow/report", `{"reported":{"mode":"eco"},"clear_desired":true}`}, int64(6)},
		{"shadow clear desired", `{"reported":{},"version":7}`,
			func() (any, error) { d, err := c.ShadowClearDesired(ctx); return d.Version, err },
			seenRequest{"POST", "/v1/shadow/clear-desired", ""}, int64(7)},
		{"rrpc reply, text", `{"process_id":"42"}`,
			func() (any, error) { return nil, c.RRPCReply(ctx, "42", []byte("ok")) },
			seenRequest{"POST", "/v1/rrpc/reply", `{"process_id":"42","payload":"ok"}`}, nil},
		{"rrpc reply, binary", `{"process_id":"43"}`,
			func() (any, error) { return nil, c.RRPCReply(ctx, "43", []byte{0xff, 0}) },
			seenRequest{"POST", "/v1/rrpc/reply", `{"process_id":"43","payload_base64":"/wA="}`}, nil},
		{"ota", `{"version":"1.0","state":"downloading","bytes":10,"percent":50}`,
			func() (any, error) { return c.OTA(ctx) },
			seenRequest{"GET", "/v1/ota", ""}, OTAStatus{Version: "1.0", State: OTADownloading, Bytes: 10, Percent: 50}},
		{"gateway list", `[{"product_id":"P","device_name":"s1","state":"online","bound":true,"configured":true,"can_bind":true}]`,
			func() (any, error) { return c.GatewaySubDevices(ctx) },
			seenRequest{"GET", "/v1/gateway", ""},
			[]SubDevice{{DeviceRef: DeviceRef{"P", "s1"}, State: SubDeviceOnline, Bound: true, Configured: true, CanBind: true}}},
		{"gateway describe", `[{"product_id":"P","device_name":"s1"}]`,
			func() (any, error) { return c.GatewayDescribe(ctx) },
			seenRequest{"GET", "/v1/gateway/describe", ""}, []DeviceRef{{"P", "s1"}}},
		{"gateway op", `{"results":[{"product_id":"P","device_name":"s1","result":-1,"error":"timeout"}],"error":"1 failed"}`,
			func() (any, error) { return c.GatewayOp(ctx, GatewayOnline, []string{"P/s1"}) },
			seenRequest{"POST", "/v1/gateway/online", `{"devices":["P/s1"]}`},
			GatewayResults{Results: []GatewayResult{{DeviceRef: DeviceRef{"P", "s1"}, Code: -1, Error: "timeout"}}, Error: "1 failed"}},
		{"gateway add", `{"added":"P/s2"}`,
			func() (any, error) {
				return nil, c.GatewayAdd(ctx, SubDeviceConfig{ProductID: "P", DeviceName: "s2", DeviceSecret: "c2VjcmV0"})
			},
			seenRequest{"POST", "/v1/gateway/subdevices", `{"product_id":"P","device_name":"s2","device_secret":"c2VjcmV0"}`}, nil},
		{"outbox", `{"memory":{"messages":1,"bytes":2,"max_messages":3,"max_bytes":4},"dead_letters":[]}`,
			func() (any, error) { return c.Outbox(ctx) },
			seenRequest{"GET", "/v1/outbox", ""}, OutboxList{Memory: Bound{1, 2, 3, 4}, DeadLetters: []DeadLetter{}}},
		{"outbox retry", `{"id":"7"}`,
			func() (any, error) { return nil, c.OutboxRetry(ctx, "7") },
			seenRequest{"POST", "/v1/outbox/7/retry", ""}, nil},
		{"outbox drop", `{"id":"m/1"}`,
			func() (any, error) { return nil, c.OutboxDrop(ctx, "m/1") },
			seenRequest{"DELETE", "/v1/outbox/m%2F1", ""}, nil},
		{"at modems", `[{"driver":"at.quectel","port":"/dev/ttyUSB2","up":true}]`,
			func() (any, error) { return c.ATModems(ctx, true) },
			seenRequest{"GET", "/v1/at/modems?refresh=1", ""}, []ModemStatus{{Driver: "at.quectel", Port: "/dev/ttyUSB2", Up: true}}},
		{"at send", `{"port":"/dev/ttyUSB2","lines":["+CSQ: 20,99"],"final":"OK","driver":"at.quectel"}`,
			func() (any, error) { return c.ATSend(ctx, ATSendRequest{Command: "AT+CSQ", Timeout: time.Second}) },
			seenRequest{"POST", "/v1/at/send", `{"command":"AT+CSQ","timeout_ns":1000000000}`},
			ATSendResult{Port: "/dev/ttyUSB2", Lines: []string{"+CSQ: 20,99"}, Final: "OK", Driver: "at.quectel"}},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			f.set(http.StatusOK, row.answer)
			got, err := row.call()
			require.NoError(t, err)
			assert.Equal(t, row.want, f.last(t))
			if row.result != nil {
				assert.Equal(t, row.result, got)
			}
		})
	}
}

// The daemon's refusals are *Error with its status and its words; a
// publish refused or withdrawn is a *PublishError; no daemon is
// ErrNotRunning.
func TestClientErrors(t *testing.T) {
	f := newFakeDaemon(t)
	c := New(f.socket)
	ctx := context.Background()

	f.set(http.StatusForbidden, `{"error":"topic \"x/y/z\" does not belong to this device"}`)
	_, err := c.Publish(ctx, PublishRequest{Topic: "x/y/z"})
	var apiErr *Error
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusForbidden, apiErr.StatusCode)
	assert.Equal(t, `topic "x/y/z" does not belong to this device`, err.Error(), "the CLI prints the daemon's words")

	f.set(http.StatusUnprocessableEntity, `{"topic":"p/d/event","result":"refused","error":"queue full"}`)
	rep, err := c.Publish(ctx, PublishRequest{Topic: "event"})
	var pe *PublishError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, Refused, pe.Result)
	assert.Equal(t, "queue full", err.Error())
	assert.Equal(t, "p/d/event", rep.Topic)

	f.set(http.StatusServiceUnavailable, `{"topic":"p/d/event","result":"not_sent","error":"not acknowledged within 1s"}`)
	_, err = c.Publish(ctx, PublishRequest{Topic: "event"})
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, NotSent, pe.Result)
	assert.Equal(t, "not sent: not acknowledged within 1s", err.Error())

	f.set(http.StatusNotFound, `{"error":"outbox: no dead letter 9"}`)
	err = c.OutboxRetry(ctx, "9")
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusNotFound, apiErr.StatusCode)
	assert.Equal(t, "outbox: no dead letter 9", err.Error())

	f.set(http.StatusBadGateway, `not json`)
	_, err = c.Status(ctx)
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, "iotd api: 502 Bad Gateway", err.Error())

	f.set(http.StatusOK, `{"version":`)
	_, err = c.Status(ctx)
	assert.ErrorContains(t, err, "iotd api: /v1/status: bad answer")

	gone := New(filepath.Join(t.TempDir(), "none.sock"))
	_, err = gone.Status(ctx)
	require.ErrorIs(t, err, ErrNotRunning)
	assert.Contains(t, err.Error(), "none.sock")
	for _, err := range gone.Subscribe(ctx, "control", 0) {
		require.ErrorIs(t, err, ErrNotRunning)
	}
}

// collect runs a stream to its end.
func collect[T any](seq iter.Seq2[T, error]) ([]T, error) {
	var out []T
	for v, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Streams yield each line's value, then the error that ended them: the
// daemon closing (ErrStreamClosed), a bad line, a refusal.
func TestClientStreams(t *testing.T) {
	f := newFakeDaemon(t)
	c := New(f.socket)
	ctx := context.Background()

	f.set(http.StatusOK, `{"topic":"p/d/control","qos":1,"payload":"on","received_at":"2026-01-02T03:04:05Z"}`+"\n"+`{"topic":"p/d/control","qos":1,"payload_base64":"/wA=","received_at":"2026-01-02T03:04:06Z"}`+"\n")
	msgs, err := collect(c.Subscribe(ctx, "control", 1))
	require.ErrorIs(t, err, ErrStreamClosed)
	require.Len(t, msgs, 2)
	assert.Equal(t, "on", msgs[0].Payload)
	assert.Equal(t, "/wA=", msgs[1].PayloadBase64)
	assert.Equal(t, seenRequest{"GET", "/v1/subscribe?filter=control&qos=1", ""}, f.last(t))

	// Breaking the loop ends the stream with no error.
	n := 0
	for _, err := range c.Subscribe(ctx, "control", 0) {
		require.NoError(t, err)
		n++
		break
	}
	assert.Equal(t, 1, n)

	f.set(http.StatusOK, "{\"process_id\":\"1\",\"topic\":\"t\",\"received\":\"2026-01-02T03:04:05Z\",\"deadline\":\"2026-01-02T03:04:10Z\"}\nnot json\n")
	reqs, err := collect(c.RRPCRequests(ctx))
	assert.ErrorContains(t, err, "iotd api: bad stream line")
	assert.Len(t, reqs, 1)
	assert.Equal(t, "/v1/rrpc/requests", f.last(t).URI)

	f.set(http.StatusOK, "")
	_, err = collect(c.Broadcasts(ctx))
	require.ErrorIs(t, err, ErrStreamClosed)
	assert.Equal(t, "/v1/broadcast", f.last(t).URI)

	_, err = collect(c.WithSubDevice("P/s1").ShadowWatch(ctx))
	require.ErrorIs(t, err, ErrStreamClosed)
	assert.Equal(t, "/v1/shadow/watch?device=P%2Fs1", f.last(t).URI)

	_, err = collect(c.ATTrace(ctx, "/dev/ttyUSB2"))
	require.ErrorIs(t, err, ErrStreamClosed)
	assert.Equal(t, "/v1/at/trace?port=%2Fdev%2FttyUSB2", f.last(t).URI)

	f.set(http.StatusForbidden, `{"error":"filter \"a/b+/c\": '+' must fill a whole level"}`)
	_, err = collect(c.Subscribe(ctx, "a/b+/c", 0))
	var apiErr *Error
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusForbidden, apiErr.StatusCode)
}

// A stream whose context ends stops with no error, even mid-wait.
func TestClientStreamEndsWithItsContext(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "iotd.sock")
	ln, err := net.Listen("unix", socket)
	require.NoError(t, err)
	release := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, `{"topic":"p/d/a"}`+"\n")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got []Message
	for m, err := range New(socket).Subscribe(ctx, "a", 0) {
		require.NoError(t, err)
		got = append(got, m)
		cancel()
	}
	assert.Len(t, got, 1)
}

func TestParseDeviceRef(t *testing.T) {
	r, err := ParseDeviceRef("PSUB/s1")
	require.NoError(t, err)
	assert.Equal(t, "PSUB/s1", r.String())
	for _, bad := range []string{"", "PSUB", "/s1", "PSUB/"} {
		_, err := ParseDeviceRef(bad)
		assert.Error(t, err, bad)
	}
}

func TestTextOrBase64(t *testing.T) {
	text, b64 := TextOrBase64([]byte("héllo"))
	assert.Equal(t, []string{"héllo", ""}, []string{text, b64})
	text, b64 = TextOrBase64([]byte{0xff})
	assert.Equal(t, []string{"", "/w=="}, []string{text, b64})
	assert.False(t, errors.Is(ErrStreamClosed, ErrNotRunning))
}
