// Command table turns the output of `go test -bench ./bench/...` into one
// table: for each figure issue 16 set a target for, iotd's and the peer's
// absolute numbers, the ratio and whether it meets the target. `make bench`
// runs the benchmarks and pipes them through it:
//
//	go test -run '^$' -bench . ./bench/... | tee bench.out
//	go run ./bench/table < bench.out
//
// A figure measured several times (-count N) shows the range. Benchmarks
// the table has no row for are listed after it with their ratios.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

func main() {
	results, err := Parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "table:", err)
		os.Exit(1)
	}
	if len(results) == 0 {
		fmt.Fprintln(os.Stderr, "table: no benchmark results on stdin")
		os.Exit(1)
	}
	Render(os.Stdout, results)
}

// Result is one benchmark line: its name (without the -N GOMAXPROCS
// suffix) and its metrics by unit.
type Result struct {
	Name    string
	Metrics map[string]float64
}

// benchLine matches "BenchmarkName-2   	  100	  123 ns/op	  4.5 unit ...".
var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// Parse reads `go test -bench` output and returns its results in order.
// Lines that are not results (logs, PASS, ok) are skipped; a result line
// whose metrics do not parse is an error naming it.
func Parse(r io.Reader) ([]Result, error) {
	var out []Result
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		f := strings.Fields(m[2])
		if len(f)%2 != 0 {
			return nil, fmt.Errorf("line %d: %s: metrics are not value/unit pairs", n, m[1])
		}
		res := Result{Name: m[1], Metrics: make(map[string]float64, len(f)/2)}
		for i := 0; i < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("line %d: %s: metric %q: %v", n, m[1], f[i+1], err)
			}
			res.Metrics[f[i+1]] = v
		}
		out = append(out, res)
	}
	return out, sc.Err()
}

// Row is one figure of the table: which benchmark, which metrics, and the
// target for the ratio (at least Target when Higher, at most otherwise).
type Row struct {
	Label      string
	Bench      *regexp.Regexp
	IOTD, Peer string // metric units of the absolute figures
	PeerName   string
	Ratio      string // the ratio's unit
	Target     float64
	Higher     bool
	// Added compares iotd minus the peer (a cost added on top of it)
	// with the target, instead of the ratio.
	Added bool
}

// Rows are issue 16's figures, and issue 18's NATS backend against the
// in-process bus (no target: the issue asks for the figures side by side).
var Rows = []Row{
	{Label: "QoS 0 publish, bus path ÷ bare paho", Bench: regexp.MustCompile(`^BenchmarkPublishQoS0$`), IOTD: "iotd-msgs/s", Peer: "paho-msgs/s", PeerName: "paho", Ratio: "iotd/paho-ratio", Target: 0.9, Higher: true},
	{Label: "QoS 1 publish, bus path ÷ bare paho", Bench: regexp.MustCompile(`^BenchmarkPublishQoS1$`), IOTD: "iotd-msgs/s", Peer: "paho-msgs/s", PeerName: "paho", Ratio: "iotd/paho-ratio", Target: 0.9, Higher: true},
	{Label: "QoS 1 publish, durable outbox ÷ bare paho", Bench: regexp.MustCompile(`^BenchmarkPublishQoS1Durable$`), IOTD: "durable-msgs/s", Peer: "paho-msgs/s", PeerName: "paho", Ratio: "durable/paho-ratio"},
	{Label: "connect to ready ÷ bare paho", Bench: regexp.MustCompile(`^BenchmarkConnectToReady$`), IOTD: "iotd-ms/connect", Peer: "paho-ms/connect", PeerName: "paho", Ratio: "iotd/paho-ratio", Target: 1.2},
	{Label: "local API stream publish ÷ bare paho", Bench: regexp.MustCompile(`^BenchmarkLocalPublish`), IOTD: "stream-msgs/s", Peer: "paho-msgs/s", PeerName: "paho", Ratio: "stream/paho-ratio", Target: 0.5, Higher: true},
	{Label: "local API, one request per message ÷ bare paho", Bench: regexp.MustCompile(`^BenchmarkLocalPublish`), IOTD: "single-msgs/s", Peer: "paho-msgs/s", PeerName: "paho", Ratio: "single/paho-ratio"},
	{Label: "plugin TCP throughput ÷ in process", Bench: regexp.MustCompile(`^BenchmarkPluginThroughput`), IOTD: "plugin-MB/s", Peer: "inproc-MB/s", PeerName: "in process", Ratio: "plugin/inproc-throughput", Target: 0.5, Higher: true},
	{Label: "plugin round trip, 16 B: µs added", Bench: regexp.MustCompile(`^BenchmarkPluginRoundTrip`), IOTD: "plugin-µs/rtt", Peer: "inproc-µs/rtt", PeerName: "in process", Ratio: "plugin/inproc-rtt", Target: 100, Added: true},
	{Label: "OTA download ÷ curl", Bench: regexp.MustCompile(`^BenchmarkOTADownload`), IOTD: "iotd-MiB/s", Peer: "curl-MiB/s", PeerName: "curl", Ratio: "iotd/curl-ratio", Target: 0.95, Higher: true},
	{Label: "OTA checkpoints, % of download time", Bench: regexp.MustCompile(`^BenchmarkOTADownload`), IOTD: "checkpoint-cost-%", Ratio: "checkpoint-cost-%", Target: 5},
	{Label: "AT goodput ÷ line rate", Bench: regexp.MustCompile(`^BenchmarkATGoodput`), IOTD: "payload-B/s", Ratio: "line-ratio", Target: 0.85, Higher: true},
	{Label: "bus publish → subscriber ack, NATS (file) ÷ in process", Bench: regexp.MustCompile(`^BenchmarkBusNATS$`), IOTD: "nats-msgs/s", Peer: "inproc-msgs/s", PeerName: "in process", Ratio: "nats/inproc-ratio"},
	{Label: "idle RSS, demo features (MB)", Bench: regexp.MustCompile(`^BenchmarkFootprint`), IOTD: "idle-rss-MB", Ratio: "idle-rss-MB", Target: 15},
	{Label: "stripped binary (MB)", Bench: regexp.MustCompile(`^BenchmarkFootprint`), IOTD: "binary-MB", Ratio: "binary-MB", Target: 15},
}

// span is the range of one metric over several results.
type span struct{ lo, hi float64 }

func (s *span) add(v float64) {
	if s.lo == 0 && s.hi == 0 {
		s.lo, s.hi = v, v
		return
	}
	s.lo, s.hi = min(s.lo, v), max(s.hi, v)
}

func (s span) String() string {
	if s.lo == s.hi {
		return num(s.lo)
	}
	return num(s.lo) + "–" + num(s.hi)
}

// num prints a figure with three significant digits, thousands as k.
func num(v float64) string {
	switch a := abs(v); {
	case a >= 10000:
		return strconv.FormatFloat(v/1000, 'f', 0, 64) + "k"
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

// Render prints the table of Rows (one line per benchmark a row matches,
// sub-benchmarks apart) and then the results no row claimed.
func Render(w io.Writer, results []Result) {
	type line struct {
		row               Row
		name              string
		iotd, peer, ratio span
	}
	var lines []*line
	byKey := map[string]*line{}
	claimed := map[string]bool{}
	for _, row := range Rows {
		for _, r := range results {
			if !row.Bench.MatchString(r.Name) {
				continue
			}
			ratio, ok := r.Metrics[row.Ratio]
			if !ok {
				continue
			}
			claimed[r.Name] = true
			key := row.Label + "\x00" + r.Name
			l := byKey[key]
			if l == nil {
				l = &line{row: row, name: r.Name}
				byKey[key] = l
				lines = append(lines, l)
			}
			if row.Added {
				ratio = r.Metrics[row.IOTD] - r.Metrics[row.Peer]
			}
			l.ratio.add(ratio)
			l.iotd.add(r.Metrics[row.IOTD])
			if row.Peer != "" {
				l.peer.add(r.Metrics[row.Peer])
			}
		}
	}
	fmt.Fprintln(w, "| Figure | Benchmark | iotd | peer | ratio (or added) | target | met |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, l := range lines {
		peer := "—"
		if l.row.Peer != "" {
			peer = l.peer.String() + " (" + l.row.PeerName + ")"
		}
		target, met := "—", ""
		if l.row.Target != 0 {
			if l.row.Higher {
				target = "≥ " + num(l.row.Target)
				met = yesNo(l.ratio.lo >= l.row.Target, l.ratio.hi >= l.row.Target)
			} else {
				target = "≤ " + num(l.row.Target)
				met = yesNo(l.ratio.hi <= l.row.Target, l.ratio.lo <= l.row.Target)
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s %s | %s | %s | %s | %s |\n", l.row.Label, strings.TrimPrefix(l.name, "Benchmark"),
			l.iotd, l.row.IOTD, peer, l.ratio, target, met)
	}
	var rest []string
	for _, r := range results {
		if claimed[r.Name] {
			continue
		}
		claimed[r.Name] = true
		var ms []string
		for unit, v := range r.Metrics {
			if strings.Contains(unit, "ratio") || strings.Contains(unit, "/s") {
				ms = append(ms, num(v)+" "+unit)
			}
		}
		sort.Strings(ms)
		rest = append(rest, "  "+strings.TrimPrefix(r.Name, "Benchmark")+": "+strings.Join(ms, ", "))
	}
	if len(rest) > 0 {
		fmt.Fprintln(w, "\nOther benchmarks:")
		for _, s := range rest {
			fmt.Fprintln(w, s)
		}
	}
}

// yesNo says whether every run met the target, some did, or none.
func yesNo(all, some bool) string {
	switch {
	case all:
		return "yes"
	case some:
		return "some runs"
	}
	return "no"
}
