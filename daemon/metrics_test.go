package daemon

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/localapi"
)

func freeTCPAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// value returns the sample of family name whose labels include want.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	f := fams[name]
	require.NotNil(t, f, "no metric family %s", name)
	for _, m := range f.Metric {
		ok := true
		for k, v := range want {
			found := false
			for _, lp := range m.Label {
				if lp.GetName() == k && lp.GetValue() == v {
					found = true
				}
			}
			ok = ok && found
		}
		if !ok {
			continue
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Untyped != nil:
			return m.Untyped.GetValue()
		}
	}
	t.Fatalf("no sample of %s with %v", name, want)
	return 0
}

// The metrics listener serves the Prometheus text format that
// Prometheus's own parser reads: names and types by the conventions, the
// link up, publishes counted by result, queues, the process's metrics;
// /healthz says ok.
func TestMetricsScrape(t *testing.T) {
	hub := startHub(t, nil)
	dir := deviceDir(t, hub, "PMETRIC001", "dev1", false)
	addr := freeTCPAddr(t)
	r := startDaemon(t, configFor(t, hub, dir, "metrics: {listen: "+addr+"}\n"))
	r.waitStatus(t, "connected", func(st localapi.Status) bool { return st.Link.State == "connected" })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := r.client.Publish(ctx, localapi.PublishRequest{Topic: "PMETRIC001/dev1/event", Payload: "{}", QoS: 1})
	require.NoError(t, err)

	code, body := get(t, "http://"+addr+"/metrics")
	require.Equal(t, http.StatusOK, code)
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	require.NoError(t, err, body)
	dev := map[string]string{"device": "default"}
	assert.Equal(t, 1.0, value(t, fams, "iotd_link_up", dev))
	assert.Equal(t, 1.0, value(t, fams, "iotd_link_state", map[string]string{"device": "default", "state": "connected"}))
	assert.Equal(t, 0.0, value(t, fams, "iotd_link_state", map[string]string{"device": "default", "state": "disconnected"}))
	assert.Equal(t, 1.0, value(t, fams, "iotd_mqtt_sessions_total", dev))
	assert.GreaterOrEqual(t, value(t, fams, "iotd_publishes_total", map[string]string{"device": "default", "result": "acknowledged"}), 1.0)
	assert.Equal(t, 0.0, value(t, fams, "iotd_publishes_total", map[string]string{"device": "default", "result": "refused"}))
	assert.Positive(t, value(t, fams, "iotd_queue_max_messages", map[string]string{"device": "default", "queue": "memory"}))
	assert.Positive(t, value(t, fams, "process_resident_memory_bytes", nil))
	for name, f := range fams {
		assert.True(t, model.IsValidLegacyMetricName(name), name)
		if f.GetType() == dto.MetricType_COUNTER && strings.HasPrefix(name, "iotd_") {
			assert.True(t, strings.HasSuffix(name, "_total"), "counter %s ends in _total", name)
		}
	}

	code, body = get(t, "http://"+addr+"/healthz")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ok\n", body)
}

// /healthz says why the daemon is not healthy: the link is down.
func TestHealthzSaysWhy(t *testing.T) {
	hub := startHub(t, nil)
	dir := deviceDir(t, hub, "PMETRIC002", "dev1", false)
	addr := freeTCPAddr(t)
	dead := freeTCPAddr(t) // nothing listens here
	cfg := configFor(t, hub, dir, fmt.Sprintf("metrics: {listen: %s}\n", addr))
	cfg.Link.Endpoint = dead
	startDaemon(t, cfg)
	require.Eventually(t, func() bool {
		code, body := get(t, "http://"+addr+"/healthz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "device default: link") && strings.Contains(body, "refused")
	}, 20*time.Second, 50*time.Millisecond)
}

func TestMetricsConfigErrors(t *testing.T) {
	for _, bad := range []string{"9464", "localhost", ":"} {
		_, err := ParseConfig([]byte("metrics: {listen: \""+bad+"\"}\n"), "iotd.yaml", t.TempDir())
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), "metrics.listen", bad)
	}
	_, err := ParseConfig([]byte("metrics: {listen: 127.0.0.1:9464, port: 1}\n"), "iotd.yaml", t.TempDir())
	assert.ErrorContains(t, err, "port")
}
