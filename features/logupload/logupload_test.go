package logupload

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/hubsim"
	"github.com/iotd/iotd/internal/hubtest"
)

func intp(v int) *int { return &v }

type rig struct {
	hub    *hubsim.Hub
	dev    *hubtest.Device
	client *hubsim.Client
	pid    string
}

func newRig(t *testing.T, pid string) *rig {
	hub := hubtest.StartHub(t, nil)
	return &rig{hub: hub, dev: hubtest.Connect(t, hub, pid, "dev"), client: hubsim.NewClient(hub.AdminURL()), pid: pid}
}

// start runs an uploader for the rig's device until the end of the test.
func (r *rig) start(t *testing.T, cfg Config) *Uploader {
	t.Helper()
	cfg.URL = r.client.LogURL()
	u, err := New(cfg, r.dev.Bus, r.dev.Info, nil, nil, nil)
	require.NoError(t, err)
	runFor(t, u)
	return u
}

func runFor(t *testing.T, u *Uploader) (stop func()) {
	stop = hubtest.Run(t, u.Run)
	require.Eventually(t, func() bool { return u.Flush(context.Background()) != ErrStopped }, 5*time.Second, 5*time.Millisecond)
	return stop
}

func (r *rig) lines(t *testing.T) []string {
	t.Helper()
	ls, err := r.client.Logs(context.Background(), r.pid, "dev")
	require.NoError(t, err)
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.Line
	}
	return out
}

func TestLinesReachHubSigned(t *testing.T) {
	r := newRig(t, "PLOGUP0001")
	u := r.start(t, Config{FlushInterval: 20 * time.Millisecond})
	require.Eventually(t, func() bool { return u.Level() == hubsim.DefaultLogLevel }, 10*time.Second, 10*time.Millisecond,
		"the level comes from the hub's answer to get_log_level")

	log := slog.New(u.Handler())
	log.Info("hello", "k", "v w")
	log.Debug("not at level 3")
	assert.True(t, u.Add(slog.LevelWarn, "myapp", "from an app"))
	assert.False(t, u.Add(slog.LevelDebug, "myapp", "too verbose"))

	require.Eventually(t, func() bool { return len(r.lines(t)) == 2 }, 10*time.Second, 10*time.Millisecond)
	ls := r.lines(t)
	assert.Regexp(t, regexp.MustCompile(`^INF\|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\|logupload_test\.go\|logupload\.TestLinesReachHubSigned\(\d+\): hello k="v w"$`), ls[0])
	assert.Regexp(t, regexp.MustCompile(`^WRN\|[0-9: -]{19}\|myapp\|app\(0\): from an app$`), ls[1])
	// The hub stores the lines before it answers; the uploader counts
	// them when the answer arrives.
	require.Eventually(t, func() bool { return u.Stats().Uploaded == 2 }, 10*time.Second, 10*time.Millisecond,
		"the uploader counts the lines the hub accepted")
	assert.Zero(t, u.Stats().PostErrors)
}

func TestBatchSplitIntoSignedPosts(t *testing.T) {
	r := newRig(t, "PLOGUP0002")
	u := r.start(t, Config{FlushInterval: time.Hour, FlushBytes: 1 << 20, MaxPostBytes: MaxLineBytes, Level: intp(4)})
	var want []string
	for i := range 10 {
		text := fmt.Sprintf("line %02d %s", i, strings.Repeat("x", 250))
		require.True(t, u.Add(slog.LevelError, "app", text))
		want = append(want, text)
	}
	require.Eventually(t, func() bool { return u.Stats().Accepted == 10 && len(u.queue) == 0 }, 5*time.Second, time.Millisecond)
	require.NoError(t, u.Flush(context.Background()))
	st := u.Stats()
	assert.Equal(t, int64(4), st.Posts, "three ~290-byte lines fit in 1023 bytes: 10 lines take 4 posts")
	ls := r.lines(t)
	require.Len(t, ls, 10, "every post passed the hub's signature check")
	for i, l := range ls {
		assert.True(t, strings.HasSuffix(l, want[i]), "line %d in order", i)
	}
}

func TestFailedBatchKeptAndSentFirst(t *testing.T) {
	r := newRig(t, "PLOGUP0003")
	ctx := context.Background()
	spoolDir := filepath.Join(t.TempDir(), "spool")
	cfg := Config{FlushInterval: time.Hour, FlushBytes: 1 << 20, Level: intp(4), SpoolDir: spoolDir, URL: r.client.LogURL()}
	u, err := New(cfg, nil, r.dev.Info, nil, nil, nil)
	require.NoError(t, err)
	stop := runFor(t, u)

	require.NoError(t, r.client.SetFault(ctx, "log", hubsim.FaultDown))
	for _, s := range []string{"a1", "a2", "a3"} {
		require.True(t, u.Add(slog.LevelError, "app", s))
	}
	require.Eventually(t, func() bool { return len(u.queue) == 0 }, 5*time.Second, time.Millisecond)
	require.ErrorIs(t, u.Flush(ctx), ErrBadAnswer)
	st := u.Stats()
	assert.Equal(t, 1, st.Spooled)
	assert.Equal(t, int64(1), st.PostErrors)
	assert.Contains(t, st.LastError, "HTTP 503")
	files, err := filepath.Glob(filepath.Join(spoolDir, "*"+spoolSuffix))
	require.NoError(t, err)
	require.Len(t, files, 1)
	fi, err := os.Stat(files[0])
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	// iotd restarts while the endpoint is still down: the batch survives.
	require.Error(t, u.Flush(ctx), "the kept batch fails again")
	assert.Equal(t, 1, u.Stats().Spooled)
	stop()
	u2, err := New(cfg, nil, r.dev.Info, nil, nil, nil)
	require.NoError(t, err)
	runFor(t, u2)
	assert.Equal(t, 1, u2.Stats().Spooled)

	require.NoError(t, r.client.SetFault(ctx, "log", hubsim.FaultNone))
	require.True(t, u2.Add(slog.LevelError, "app", "b1"))
	require.Eventually(t, func() bool { return len(u2.queue) == 0 }, 5*time.Second, time.Millisecond)
	require.NoError(t, u2.Flush(ctx))
	ls := r.lines(t)
	require.Len(t, ls, 4)
	for i, s := range []string{"a1", "a2", "a3", "b1"} {
		assert.True(t, strings.HasSuffix(ls[i], ": "+s), "kept lines first: %q", ls[i])
	}
	assert.Zero(t, u2.Stats().Spooled)
	files, err = filepath.Glob(filepath.Join(spoolDir, "*"+spoolSuffix))
	require.NoError(t, err)
	assert.Empty(t, files)
}

func TestGarbageAnswerCountedBatchKept(t *testing.T) {
	r := newRig(t, "PLOGUP0004")
	ctx := context.Background()
	u := r.start(t, Config{FlushInterval: time.Hour, FlushBytes: 1 << 20, Level: intp(4)})
	require.NoError(t, r.client.SetFault(ctx, "log", hubsim.FaultGarbage))
	require.True(t, u.Add(slog.LevelError, "app", "kept"))
	require.Eventually(t, func() bool { return len(u.queue) == 0 }, 5*time.Second, time.Millisecond)
	require.ErrorIs(t, u.Flush(ctx), ErrBadAnswer)
	st := u.Stats()
	assert.Equal(t, int64(1), st.BadAnswers)
	assert.Equal(t, 1, st.Spooled)
	require.NoError(t, r.client.SetFault(ctx, "log", hubsim.FaultNone))
	require.NoError(t, u.Flush(ctx))
	assert.Len(t, r.lines(t), 1)
}

func TestLevelFollowsPushAndReconnect(t *testing.T) {
	r := newRig(t, "PLOGUP0005")
	ctx := context.Background()
	u := r.start(t, Config{FlushInterval: time.Hour})
	require.Eventually(t, func() bool { return u.Level() == hubsim.DefaultLogLevel }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, r.client.SetLogLevel(ctx, r.pid, "dev", LevelError))
	require.Eventually(t, func() bool { return u.Level() == LevelError }, 10*time.Second, 10*time.Millisecond)
	assert.False(t, u.Add(slog.LevelWarn, "app", "below the level"))
	assert.True(t, u.Add(slog.LevelError, "app", "at the level"))

	// After a reconnect the uploader asks again.
	before := u.Stats().LevelUpdates
	release := r.dev.HoldDials()
	kick(t, r)
	require.Eventually(t, func() bool { return !r.dev.Connected() }, 10*time.Second, 10*time.Millisecond)
	release()
	require.Eventually(t, func() bool { return u.Stats().LevelUpdates > before }, 20*time.Second, 10*time.Millisecond)
}

func TestHandlerNeverBlocksAndSkipsItself(t *testing.T) {
	info := &core.DeviceInfo{AuthMode: "KEY", ProductID: "PLOGUP0006", DeviceName: "dev",
		KeyDeviceInfo: core.KeyDeviceInfo{DeviceSecret: "c2VjcmV0c2VjcmV0c2VjcmV0"}}
	u, err := New(Config{QueueLines: 2, Level: intp(4)}, nil, info, nil, nil, nil)
	require.NoError(t, err)
	log := slog.New(u.Handler())
	for range 5 {
		log.Info("x") // Run is not running: nobody drains the queue
	}
	assert.Equal(t, int64(2), u.Stats().Accepted)
	assert.Equal(t, int64(3), u.Stats().Dropped)

	u, err = New(Config{Level: intp(4)}, nil, info, nil, nil, nil)
	require.NoError(t, err)
	slog.New(u.Handler()).With(selfKey, selfValue).Error("own record")
	slog.New(u.Handler()).Error("own record", selfKey, selfValue)
	assert.Zero(t, u.Stats().Accepted, "the uploader's own records are ignored")
}

func TestFormatLineTruncates(t *testing.T) {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	l := FormatLine(LevelError, ts, "f.go", "pkg.F", 7, "a\fb")
	assert.Equal(t, "ERR|2026-01-02 03:04:05|f.go|pkg.F(7): a b"+Delimiter, l)
	long := FormatLine(LevelInfo, ts, "f.go", "F", 1, strings.Repeat("é", 1000))
	assert.True(t, utf8.ValidString(long), "cut on a rune boundary")
	assert.LessOrEqual(t, len(long), MaxLineBytes)
	assert.True(t, strings.HasSuffix(long, TruncatedMarker+Delimiter))
}

func TestHeaderLayout(t *testing.T) {
	info := &core.DeviceInfo{AuthMode: "KEY", ProductID: "PLOGUP0007", DeviceName: "dev",
		KeyDeviceInfo: core.KeyDeviceInfo{DeviceSecret: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3"}}
	s, err := newSigner(info)
	require.NoError(t, err)
	body := s.body([]byte("ERR|x"+Delimiter), time.Unix(1700000000, 0))
	assert.Equal(t, "P###PLOGUP0007dev"+strings.Repeat("#", 45)+"1700000000ERR|x\n\f", string(body[40:]))
	u, err := hubsim.ParseLogBody(body)
	require.NoError(t, err)
	assert.Equal(t, []string{"ERR|x"}, u.Lines)
	assert.True(t, hubsim.VerifyLogBody(body, "MDEyMzQ1Njc4OWFiY2RlZjAx"), "key: the secret text cut to 24 characters")
	assert.Equal(t, "0000000000", string(s.body(nil, time.Time{})[102:112]))
}

func FuzzParseLevel(f *testing.F) {
	f.Add([]byte(`{"type":"get_log_level","result":0,"log_level":3}`))
	f.Add([]byte(`{"log_level":"3"}`))
	f.Add([]byte(`{"log_level":9}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := ParseLevel(b)
		if err == nil {
			assert.True(t, n >= 0 && n <= 4)
		}
	})
}

// kick takes the device's session over with another client, so the
// uplink is disconnected by the hub and reconnects.
func kick(t *testing.T, r *rig) {
	t.Helper()
	creds, err := core.MQTTCredentials(r.dev.Info, core.CredentialOptions{})
	require.NoError(t, err)
	pem, err := os.ReadFile(r.hub.CAFile())
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	opts := paho.NewClientOptions().AddBroker("ssl://" + r.hub.TLSAddr()).
		SetTLSConfig(&tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}).
		SetClientID(creds.ClientID).SetUsername(creds.Username).SetPassword(creds.Password).
		SetProtocolVersion(4).SetCleanSession(true).SetAutoReconnect(false).SetConnectRetry(false)
	cl := paho.NewClient(opts)
	tok := cl.Connect()
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
	t.Cleanup(func() { cl.Disconnect(0) })
}

func TestLevelZeroHoldsErrorsUntilCommError(t *testing.T) {
	r := newRig(t, "PLOGUP0008")
	ctx := context.Background()
	u := r.start(t, Config{FlushInterval: time.Hour, FlushBytes: 1 << 20})
	require.NoError(t, r.client.SetLogLevel(ctx, r.pid, "dev", LevelCommErrors))
	require.Eventually(t, func() bool { return u.Level() == LevelCommErrors }, 10*time.Second, 10*time.Millisecond)
	assert.False(t, u.Add(slog.LevelWarn, "app", "not an error"))
	require.True(t, u.Add(slog.LevelError, "app", "held"))
	require.Eventually(t, func() bool { return len(u.queue) == 0 }, 20*time.Second, time.Millisecond)
	require.NoError(t, u.Flush(ctx))
	assert.Empty(t, r.lines(t), "no communication error yet: the line is held")

	release := r.dev.HoldDials()
	kick(t, r)
	require.Eventually(t, func() bool { return !r.dev.Connected() }, 10*time.Second, 10*time.Millisecond)
	release()
	require.Eventually(t, func() bool { return u.Flush(ctx) == nil && len(r.lines(t)) == 1 }, 20*time.Second, 20*time.Millisecond,
		"after the link reported an error the held line is sent")
	assert.True(t, strings.HasSuffix(r.lines(t)[0], ": held"))
}
