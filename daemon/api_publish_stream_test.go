package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/internal/hubtest"
	"github.com/iotd/iotd/localapi"
)

// rawStream opens POST path on the daemon's socket with a body the test
// writes line by line, and returns the body's writer and the results.
func rawStream(t *testing.T, ctx context.Context, socket, path string) (io.WriteCloser, <-chan localapi.PublishStreamResult) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", socket)
	}}}
	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://iotd"+path, pr)
	require.NoError(t, err)
	resp, err := hc.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	out := make(chan localapi.PublishStreamResult, 16)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if len(sc.Bytes()) == 0 {
				continue
			}
			var r localapi.PublishStreamResult
			if json.Unmarshal(sc.Bytes(), &r) != nil {
				return
			}
			out <- r
		}
	}()
	return pw, out
}

// A stream carries messages and bad lines alike: each line gets one
// result, the good ones reach the hub in the order of their lines, and a
// bad line (bad JSON, a topic not the device's, too long, an unknown field,
// timeout_ms) is refused with its line number while the stream goes on.
func TestPublishStreamEndToEnd(t *testing.T) {
	hub := startHub(t, nil)
	dir := deviceDir(t, hub, "PSTREAM001", "dev1", false)
	r := startDaemon(t, configFor(t, hub, dir, ""))
	r.waitStatus(t, "connected", connected)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	w, results := rawStream(t, ctx, r.d.cfg.SocketPath(), localapi.PathPublishStream)
	var lines []string
	for i := range 20 {
		lines = append(lines, fmt.Sprintf(`{"id":"m%d","topic":"event","payload":"p%d","qos":%d}`, i, i, i%2))
	}
	bad := map[int]string{ // line number → what its error says
		3:  "line 3: publish: bad request",
		7:  "line 7: ",
		9:  "line 9: line too long",
		12: `unknown field "color"`,
		15: "timeout_ms is not supported",
		18: "both",
	}
	lines = slices.Insert(lines, 2, `{"topic": "event", "payload": `) // line 3
	lines = slices.Insert(lines, 6, `{"id":"x","topic":"OTHER/dev/event","payload":"no"}`)
	lines = slices.Insert(lines, 8, `{"topic":"event","payload":"`+strings.Repeat("a", localapi.MaxRequestBody)+`"}`)
	lines = slices.Insert(lines, 11, `{"topic":"event","payload":"x","color":"red"}`)
	lines = slices.Insert(lines, 14, `{"topic":"event","payload":"x","timeout_ms":5}`)
	lines = slices.Insert(lines, 17, `{"topic":"event","payload":"x","payload_base64":"eA=="}`)
	lines = slices.Insert(lines, 4, "") // line 5: skipped, no result
	// The inserts after line 5 shifted by one; name them as they are now.
	bad = map[int]string{3: bad[3], 8: "does not belong to this device", 10: "line too long", 13: bad[12], 16: bad[15], 19: bad[18]}
	go func() {
		for _, l := range lines {
			if _, err := io.WriteString(w, l+"\r\n"); err != nil {
				return
			}
		}
		_ = w.Close()
	}()
	got := map[int64]localapi.PublishStreamResult{}
	for res := range results {
		_, dup := got[res.Line]
		require.False(t, dup, "line %d answered twice", res.Line)
		got[res.Line] = res
	}
	require.Len(t, got, len(lines)-1, "one result per line but the empty one")
	var order []string
	for n, res := range got {
		if want, ok := bad[int(n)]; ok {
			assert.Equal(t, localapi.Refused, res.Result, "line %d", n)
			assert.Contains(t, res.Error, want, "line %d", n)
			assert.Contains(t, res.Error, fmt.Sprintf("line %d: ", n))
			continue
		}
		require.Equal(t, localapi.Acknowledged, res.Result, "line %d: %s", n, res.Error)
		assert.Equal(t, "PSTREAM001/dev1/event", res.Topic)
		want := lines[n-1]
		assert.Contains(t, want, `"id":"`+res.ID+`"`)
		order = append(order, res.ID)
	}
	assert.Len(t, order, 20)
	require.Eventually(t, func() bool {
		n := 0
		for _, m := range hub.Messages("PSTREAM001", "dev1") {
			if strings.HasPrefix(m.Payload, "p") && m.Topic == "PSTREAM001/dev1/event" {
				n++
			}
		}
		return n == 20
	}, 10*time.Second, 20*time.Millisecond)
	var payloads []string
	for _, m := range hub.Messages("PSTREAM001", "dev1") {
		if strings.HasPrefix(m.Payload, "p") && m.Topic == "PSTREAM001/dev1/event" {
			payloads = append(payloads, m.Payload)
		}
	}
	want := make([]string, 20)
	for i := range want {
		want[i] = fmt.Sprintf("p%d", i)
	}
	assert.Equal(t, want, payloads, "the hub got them in the order of the lines")
}

// A stream holds at most a window of messages: with nothing answered (the
// link is down and the queue has room), the daemon queues the first
// PublishStreamWindow and stops reading. When the client goes away, the
// messages still queued are withdrawn.
func TestPublishStreamBackPressureAndWithdraw(t *testing.T) {
	hub := startHub(t, nil)
	dir := deviceDir(t, hub, "PSTREAM002", "dev1", false)
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := dead.Addr().String()
	require.NoError(t, dead.Close())
	y := "device_info: device_info.json\nsocket: " + dir + "/iotd.sock\n" + hubtest.LinkYAML(addr, hub.CAFile()) +
		"mqtt: {queue_size: 10000, queue_bytes: 67108864}\n"
	cfg, err := LoadConfig(hubtest.WriteConfig(t, dir, y))
	require.NoError(t, err)
	r := startDaemon(t, cfg)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := r.client.PublishStream(ctx)
	require.NoError(t, err)
	// The outbox holds the stream's messages and at most a few of the
	// features' own (a shadow get, a time request).
	const n, others = 3 * localapi.PublishStreamWindow, 4
	var sent atomic.Int64
	go func() {
		for i := range n {
			if _, err := s.Send(localapi.PublishStreamRequest{PublishRequest: localapi.PublishRequest{Topic: "event", Payload: fmt.Sprintf("%01000d", i), QoS: 1}}); err != nil {
				return
			}
			sent.Add(1)
		}
	}()
	queued := func(st localapi.Status) int { return st.Queue.Outbox.Messages }
	r.waitStatus(t, "a window of messages queued", func(st localapi.Status) bool { return queued(st) >= localapi.PublishStreamWindow })
	// The daemon stopped reading: no more are queued, and the sender is
	// held up by the socket (1 KiB lines: more than the socket buffers
	// hold), short of the last line.
	for range 3 {
		st, err := r.client.Status(ctx)
		require.NoError(t, err)
		require.LessOrEqual(t, queued(st), localapi.PublishStreamWindow+others)
	}
	assert.Less(t, sent.Load(), int64(n))
	cancel()
	r.waitStatus(t, "the queued messages withdrawn", func(st localapi.Status) bool { return queued(st) <= others })
}
