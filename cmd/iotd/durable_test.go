package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/internal/mosquittotest"
	"github.com/iotd/iotd/internal/peers"
	"github.com/iotd/iotd/internal/testlog"
	"github.com/iotd/iotd/localapi"
)

// The outbox's promise, tested on the real binary: a QoS 1 message that iotd
// reported stored or acknowledged reaches the broker, whatever happens to
// the iotd process (SIGKILL mid-stream, SIGKILL while offline) or to the
// broker (real mosquitto, stopped and started).

const durPID, durDev = "PDUR000001", "dev1"

// durableSetup writes a device and a configuration that talks plain MQTT to
// broker, and returns the configuration's path.
func durableSetup(t *testing.T, broker, extra string) (cfgPath, socket string) {
	t.Helper()
	dir := t.TempDir()
	info := fmt.Sprintf(`{"auth_mode":"KEY","productId":%q,"deviceName":%q,"key_deviceinfo":{"deviceSecret":"c2VjcmV0c2VjcmV0c2VjcmV0"}}`, durPID, durDev)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "device_info.json"), []byte(info), 0o600))
	socket = filepath.Join(dir, "iotd.sock")
	cfg := fmt.Sprintf(`device_info: device_info.json
socket: %s
state_dir: state
log: {level: debug}
link:
  driver: tcp
  endpoint: %s
  dial_timeout: 2s
  backoff: {initial: 50ms, max: 300ms}
%s`, socket, broker, extra)
	cfgPath = filepath.Join(dir, "iotd.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o600))
	return cfgPath, socket
}

// daemonProc is an iotd process.
type daemonProc struct {
	cmd    *exec.Cmd
	exited chan struct{}
	log    *testlog.Buffer
}

func startDaemonProc(t *testing.T, bin, cfgPath, socket string) *daemonProc {
	t.Helper()
	log := new(testlog.Buffer)
	cmd := exec.Command(bin, "run", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = log, log
	require.NoError(t, cmd.Start())
	p := &daemonProc{cmd: cmd, exited: make(chan struct{}), log: log}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() { p.kill() })
	cl := localapi.New(socket)
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		_, err := cl.Status(ctx)
		cancel()
		if err == nil {
			return p
		}
		select {
		case <-p.exited:
			t.Fatalf("iotd exited at start: %s", log.String())
		default:
		}
		require.True(t, time.Now().Before(deadline), "iotd did not serve its API: %v", err)
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *daemonProc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// watcher is the cloud application: a bare paho client on the broker with
// a persistent session, so that the broker (persistence on) keeps what
// arrives while it reconnects.
type watcher struct {
	id   string
	mu   sync.Mutex
	seen map[string]int
}

func newWatcher() *watcher {
	return &watcher{id: fmt.Sprintf("watcher-%d", time.Now().UnixNano()), seen: map[string]int{}}
}

func (w *watcher) connect(t *testing.T, addr string) {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).
		SetClientID(w.id).SetCleanSession(false).SetAutoReconnect(false))
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
	tok = c.Subscribe(durPID+"/"+durDev+"/#", 1, func(_ paho.Client, m paho.Message) {
		w.mu.Lock()
		w.seen[string(m.Payload())]++
		w.mu.Unlock()
	})
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
	t.Cleanup(func() { c.Disconnect(0) })
}

func (w *watcher) missing(want []string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, m := range want {
		if w.seen[m] == 0 {
			out = append(out, m)
		}
	}
	return out
}

func waitMissing(t *testing.T, w *watcher, want []string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for len(w.missing(want)) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	miss := w.missing(want)
	assert.Empty(t, miss, "%d messages reported stored or acknowledged never arrived (first: %v)", len(miss), miss[:min(len(miss), 10)])
}

// publisher publishes numbered QoS 1 messages through the API, from several
// connections at once, and records those the daemon reported stored or
// acknowledged. Errors (the daemon killed under it) are not reports.
type publisher struct {
	mu       sync.Mutex
	reported []string
	next     int
}

func (p *publisher) run(ctx context.Context, socket, prefix string, noWait bool, until int) {
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			cl := localapi.New(socket)
			for ctx.Err() == nil {
				p.mu.Lock()
				if until > 0 && p.next >= until {
					p.mu.Unlock()
					return
				}
				msg := prefix + strconv.Itoa(p.next)
				p.next++
				p.mu.Unlock()
				rep, err := cl.Publish(ctx, localapi.PublishRequest{Topic: "data", Payload: msg, QoS: 1, NoWait: noWait, Timeout: 20000})
				if err == nil && (rep.Result == localapi.Acknowledged || rep.Result == localapi.Stored) {
					p.mu.Lock()
					p.reported = append(p.reported, msg)
					p.mu.Unlock()
				} else if err != nil && errors.Is(err, localapi.ErrNotRunning) {
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
}

func (p *publisher) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.reported)
}

func TestSIGKILLLosesNothingReported(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts the daemon")
	}
	bin := buildIotd(t)
	mq := mosquittotest.Start(t, mosquittotest.Options{Durable: true})
	w := newWatcher()
	w.connect(t, mq.Addr())
	cfgPath, socket := durableSetup(t, mq.Addr(), "mqtt: {publish_rate: -1}\n")

	// A stream, with the daemon killed twice in the middle of it.
	d := startDaemonProc(t, bin, cfgPath, socket)
	pub := &publisher{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { pub.run(ctx, socket, "s", false, 0); close(done) }()
	for kill := 1; kill <= 2; kill++ {
		base := pub.count()
		require.Eventually(t, func() bool { return pub.count() >= base+300 }, 60*time.Second, 10*time.Millisecond)
		d.kill()
		d = startDaemonProc(t, bin, cfgPath, socket)
	}
	base := pub.count()
	require.Eventually(t, func() bool { return pub.count() >= base+300 }, 60*time.Second, 10*time.Millisecond)
	cancel()
	<-done
	t.Logf("stream: %d messages reported", pub.count())
	waitMissing(t, w, pub.reported)

	// 300 stored while the broker is down, then SIGKILL: all arrive once
	// both are back.
	mq.Stop(t)
	off := &publisher{}
	off.run(t.Context(), socket, "o", true, 300)
	require.Len(t, off.reported, 300, "every publish reported stored while offline")
	st, err := localapi.New(socket).Status(t.Context())
	require.NoError(t, err)
	assert.GreaterOrEqual(t, st.QueueDepth+st.Inflight, 300)
	d.kill()
	mq.Start(t)
	w.connect(t, mq.Addr())
	d = startDaemonProc(t, bin, cfgPath, socket)
	waitMissing(t, w, off.reported)
	assert.NotContains(t, d.log.String(), "panic")
}

// TestPubCLIResults: `iotd pub` says what became of the message and exits
// accordingly.
func TestPubCLIResults(t *testing.T) {
	bin := buildIotd(t)
	mq := mosquittotest.Start(t, mosquittotest.Options{Durable: true})
	w := newWatcher()
	w.connect(t, mq.Addr())
	cfgPath, socket := durableSetup(t, mq.Addr(), "")
	startDaemonProc(t, bin, cfgPath, socket)
	iotd := func(args ...string) (string, error) {
		out, err := exec.Command(bin, append(args, "--socket", socket)...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}

	out, err := iotd("pub", "-q", "1", "data", "acked")
	require.NoError(t, err, out)
	assert.Contains(t, out, "(qos 1, acknowledged)")
	waitMissing(t, w, []string{"acked"})

	mq.Stop(t)
	out, err = iotd("pub", "-q", "1", "--no-wait", "data", "stored")
	require.NoError(t, err, out)
	assert.Contains(t, out, "stored 6 bytes for "+durPID+"/"+durDev+"/data (qos 1); it will be sent")

	out, err = iotd("pub", "-q", "1", "--timeout", "300ms", "data", "withdrawn")
	require.Error(t, err)
	assert.Contains(t, out, "not sent")
	assert.Contains(t, out, "not acknowledged within 300ms")

	big := strings.Repeat("x", 16<<10+1)
	cmd := exec.Command(bin, "pub", "-q", "1", "data", "-", "--socket", socket)
	cmd.Stdin = strings.NewReader(big)
	b, err := cmd.CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(b), "refused")
	assert.Contains(t, string(b), "mqtt.max_payload")

	out, err = iotd("outbox", "list")
	require.NoError(t, err, out)
	assert.Contains(t, out, "outbox:       1 of 10000 messages")
	assert.Contains(t, out, "no parked messages")

	mq.Start(t)
	w.connect(t, mq.Addr())
	out, err = iotd("pub", "-q", "1", "data", "last")
	require.NoError(t, err, out)
	// Messages go out in order: had the withdrawn one been queued, it would
	// have arrived before "last".
	waitMissing(t, w, []string{"stored", "last"})
	w.mu.Lock()
	assert.Zero(t, w.seen["withdrawn"], "a message reported not sent was sent")
	w.mu.Unlock()
}

// rss reads a process's resident set size in bytes, and its anonymous and
// file-backed parts.
func rss(t *testing.T, pid int) (total, anon, file int64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[2] != "kB" {
			continue
		}
		kb, err := strconv.ParseInt(f[1], 10, 64)
		require.NoError(t, err)
		switch f[0] {
		case "VmRSS:":
			total = kb << 10
		case "RssAnon:":
			anon = kb << 10
		case "RssFile:":
			file = kb << 10
		}
	}
	return total, anon, file
}

// peakRSS tracks a process's highest resident set and its parts.
type peakRSS struct{ total, anon, file int64 }

func (p *peakRSS) sample(t *testing.T, pid int) {
	total, anon, file := rss(t, pid)
	p.total, p.anon, p.file = max(p.total, total), max(p.anon, anon), max(p.file, file)
}

func (p peakRSS) String() string {
	return fmt.Sprintf("%d MiB (anonymous up to %d MiB, file-backed up to %d MiB)", p.total>>20, p.anon>>20, p.file>>20)
}

// TestLargeOfflineQueueStaysInBudget: 1000 messages of 900 KB stored while
// the broker is down keep iotd's memory within its configured budget (the
// payloads are on disk), and all of them arrive when the broker is back.
func TestLargeOfflineQueueStaysInBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 900 MB")
	}
	const n, size, budget = 1000, 900 << 10, 4 << 20
	bin := buildIotd(t)
	mq := mosquittotest.Start(t, mosquittotest.Options{Durable: true})
	w := newWatcher()
	w.connect(t, mq.Addr())
	cfgPath, socket := durableSetup(t, mq.Addr(), fmt.Sprintf("mqtt: {max_payload: %d, queue_bytes: %d, publish_rate: -1}\noutbox: {max_messages: %d, max_bytes: %d}\n",
		size, budget, n+100, int64(n+100)*(size+1024)))
	mq.Stop(t)
	d := startDaemonProc(t, bin, cfgPath, socket)
	time.Sleep(time.Second) // settle: the idle figure is what the daemon holds with nothing queued
	idle, idleAnon, idleFile := rss(t, d.cmd.Process.Pid)

	payload := strings.Repeat("p", size-8)
	cl := localapi.New(socket)
	var peak peakRSS
	for i := range n {
		rep, err := cl.Publish(t.Context(), localapi.PublishRequest{Topic: "data", Payload: fmt.Sprintf("%08d", i) + payload, QoS: 1, NoWait: true})
		require.NoError(t, err, "message %d", i)
		require.Equal(t, localapi.Stored, rep.Result)
		peak.sample(t, d.cmd.Process.Pid)
	}
	t.Logf("RSS idle %d MiB (anonymous %d MiB, file-backed %d MiB)", idle>>20, idleAnon>>20, idleFile>>20)
	t.Logf("RSS idle %d MiB; peak while 1000 x 900 KB were queued %s; budget: idle + %d MiB + 20 MiB", idle>>20, peak, budget>>20)
	assert.Less(t, peak.total-idle, int64(budget+20<<20), "iotd's memory grew past its budget")

	mq.Start(t)
	w.connect(t, mq.Addr())
	w.mu.Lock()
	w.seen = map[string]int{}
	w.mu.Unlock()
	peak = peakRSS{}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		w.mu.Lock()
		got := 0
		for k := range w.seen {
			if len(k) == size {
				got++
			}
		}
		w.mu.Unlock()
		if got == n || time.Now().After(deadline) {
			assert.Equal(t, n, got, "messages delivered after the broker came back")
			break
		}
		peak.sample(t, d.cmd.Process.Pid)
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("RSS peak while the queue drained: %s", peak)
	assert.Less(t, peak.total-idle, int64(budget+20<<20), "iotd's memory grew past its budget while draining")
}

// TestDiskFullRefusesAndKeeps: the state directory on a 1 MiB tmpfs, the
// broker down: publishes are stored until the disk is full, then refused
// with the reason; everything reported stored arrives once the broker is
// back.
func TestDiskFullRefusesAndKeeps(t *testing.T) {
	bin := buildIotd(t)
	mq := mosquittotest.Start(t, mosquittotest.Options{Durable: true})
	w := newWatcher()
	w.connect(t, mq.Addr())
	cfgPath, socket := durableSetup(t, mq.Addr(), "mqtt: {publish_rate: -1}\noutbox: {max_bytes: 104857600}\n")
	state := filepath.Join(filepath.Dir(cfgPath), "state")
	require.NoError(t, os.MkdirAll(state, 0o700))
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", state).CombinedOutput(); err != nil {
		peers.Missing(t, fmt.Sprintf("cannot mount a tmpfs here (%v: %s)", err, strings.TrimSpace(string(out))), "run the tests as root")
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", state).Run() })
	mq.Stop(t)
	d := startDaemonProc(t, bin, cfgPath, socket)

	cl := localapi.New(socket)
	payload := strings.Repeat("d", 8<<10)
	var stored []string
	var refusal string
	for i := 0; i < 1000 && refusal == ""; i++ {
		msg := fmt.Sprintf("%06d", i) + payload
		rep, err := cl.Publish(t.Context(), localapi.PublishRequest{Topic: "data", Payload: msg, QoS: 1, NoWait: true})
		switch {
		case err == nil:
			require.Equal(t, localapi.Stored, rep.Result)
			stored = append(stored, msg)
		default:
			var pe *localapi.PublishError
			require.ErrorAs(t, err, &pe, "message %d", i)
			require.Equal(t, localapi.Refused, pe.Result)
			refusal = err.Error()
		}
	}
	require.NotEmpty(t, refusal, "a 1 MiB disk took 1000 x 8 KiB")
	t.Logf("%d messages stored, then: %s", len(stored), refusal)
	assert.Contains(t, refusal, "no space left on device")
	assert.Contains(t, refusal, "messages stored earlier are kept")
	require.NotEmpty(t, stored)

	// The daemon is still serving, and everything stored goes out.
	mq.Start(t)
	w.connect(t, mq.Addr())
	waitMissing(t, w, stored)
	assert.NotContains(t, d.log.String(), "panic")
}
