package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const sample = `goos: linux
BenchmarkPublishQoS0-2   	  100000	      7529 ns/op	  34.00 MB/s	    132815 iotd-msgs/s	         1.035 iotd/paho-ratio	    128360 paho-msgs/s
--- BENCH: BenchmarkPublishQoS0-2
    publish_test.go:152: broker: mosquitto
BenchmarkPublishQoS0-2   	  100000	      7249 ns/op	  35.32 MB/s	    137960 iotd-msgs/s	         0.851 iotd/paho-ratio	    119898 paho-msgs/s
BenchmarkConnectToReady-2   	     300	    359455 ns/op	         0.3592 iotd-ms/connect	         1.635 iotd/paho-ratio	         0.2197 paho-ms/connect
BenchmarkOTADownload/checkpoint=64KiB-2         	       5	 157418182 ns/op	  106.58 MB/s	        3.2 checkpoint-cost-%	       408.9 curl-MiB/s	       250.0 iotd-MiB/s	         0.6115 iotd/curl-ratio
BenchmarkPluginRoundTrip-2                      	   57201	     72366 ns/op	        12.43 inproc-µs/rtt	        59.74 plugin-µs/rtt	         4.806 plugin/inproc-rtt
BenchmarkBusNATS-2   	   30000	     95000 ns/op	   2.69 MB/s	    10560 nats-msgs/s	    0.0251 nats/inproc-ratio	    420300 inproc-msgs/s
BenchmarkSomethingElse-2   	  10	  5 ns/op	  0.5 foo/bar-ratio
PASS
ok  	github.com/iotd/iotd/bench	9.215s
`

func TestTable(t *testing.T) {
	res, err := Parse(strings.NewReader(sample))
	require.NoError(t, err)
	require.Len(t, res, 7)
	assert.Equal(t, "BenchmarkPublishQoS0", res[0].Name)
	assert.InDelta(t, 132815, res[0].Metrics["iotd-msgs/s"], 0.1)
	assert.Equal(t, "BenchmarkOTADownload/checkpoint=64KiB", res[3].Name)

	var out bytes.Buffer
	Render(&out, res)
	s := out.String()
	assert.Contains(t, s, "| QoS 0 publish, bus path ÷ bare paho | PublishQoS0 | 133k–138k iotd-msgs/s | 120k–128k (paho) | 0.85–1.03 | ≥ 0.90 | some runs |")
	assert.Contains(t, s, "| connect to ready ÷ bare paho | ConnectToReady | 0.36 iotd-ms/connect | 0.22 (paho) | 1.64 | ≤ 1.20 | no |")
	assert.Contains(t, s, "| OTA checkpoints, % of download time | OTADownload/checkpoint=64KiB | 3.20 checkpoint-cost-% | — | 3.20 | ≤ 5.00 | yes |")
	assert.Contains(t, s, "| plugin round trip, 16 B: µs added | PluginRoundTrip | 59.7 plugin-µs/rtt | 12.4 (in process) | 47.3 | ≤ 100 | yes |")
	assert.Contains(t, s, "| bus publish → subscriber ack, NATS (file) ÷ in process | BusNATS | 11k nats-msgs/s | 420k (in process) | 0.03 | — |  |")
	assert.Contains(t, s, "Other benchmarks:\n  SomethingElse: 0.50 foo/bar-ratio")
}

func TestParseRejectsBrokenMetrics(t *testing.T) {
	_, err := Parse(strings.NewReader("BenchmarkX-2  10  5 ns/op  abc unit\n"))
	assert.ErrorContains(t, err, `line 1: BenchmarkX: metric "unit"`)
	_, err = Parse(strings.NewReader("BenchmarkX-2  10  5 ns/op  7\n"))
	assert.ErrorContains(t, err, "value/unit pairs")
}

func FuzzParse(f *testing.F) {
	f.Add(sample)
	f.Add("BenchmarkX-2  1  1 ns/op\n")
	f.Fuzz(func(t *testing.T, s string) {
		res, err := Parse(strings.NewReader(s))
		if err != nil {
			return
		}
		var out bytes.Buffer
		Render(&out, res)
	})
}
