//go:build unix

package hook

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// script writes an executable /bin/sh script into a temp dir.
func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "hook.sh")
	require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o700))
	return p
}

func TestRun(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		cfg     Config
		payload string
		env     map[string]string
		want    string
		wantErr error
	}{
		{"payload on stdin echoed", "cat", Config{}, "hello", nil, "hello", nil},
		{"metadata in env", `printf '%s|%s' "$IOTD_TOPIC" "$IOTD_PROCESS_ID"`, Config{}, "",
			map[string]string{"IOTD_TOPIC": "$rrpc/rxd/P/d/42", "IOTD_PROCESS_ID": "42"}, "$rrpc/rxd/P/d/42|42", nil},
		{"empty output", "exit 0", Config{}, "x", nil, "", nil},
		{"non-zero exit", "echo partial; echo oops >&2; exit 3", Config{}, "", nil, "", ErrFailed},
		{"output over the limit", "head -c 100 /dev/zero", Config{MaxOutput: 10}, "", nil, "", ErrOutputTooLarge},
		{"output at the limit", "printf 0123456789", Config{MaxOutput: 10}, "", nil, "0123456789", nil},
		{"timeout", "sleep 30", Config{Timeout: 200 * time.Millisecond}, "", nil, "", ErrTimeout},
		{"ignores stdin", "echo done", Config{}, strings.Repeat("x", 1<<20), nil, "done\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Command = []string{script(t, tt.body)}
			r, err := New(cfg, nil)
			require.NoError(t, err)
			res, err := r.Run(context.Background(), []byte(tt.payload), tt.env)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(res.Stdout))
		})
	}
}

func TestRunArgvNoShell(t *testing.T) {
	// An argument with shell metacharacters reaches the program verbatim.
	r, err := New(Config{Command: []string{"/bin/echo", "a;b $HOME `x`"}}, nil)
	require.NoError(t, err)
	res, err := r.Run(context.Background(), nil, nil)
	require.NoError(t, err)
	assert.Equal(t, "a;b $HOME `x`\n", string(res.Stdout))
}

func TestRunMissingProgram(t *testing.T) {
	r, err := New(Config{Command: []string{filepath.Join(t.TempDir(), "absent")}}, nil)
	require.NoError(t, err)
	_, err = r.Run(context.Background(), nil, nil)
	require.ErrorIs(t, err, ErrFailed)
}

// TestTimeoutKillsProcessGroup checks that a child of the hook dies with it.
func TestTimeoutKillsProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	r, err := New(Config{Command: []string{script(t, "sleep 60 & echo $! > "+pidFile+"; wait")}, Timeout: 500 * time.Millisecond}, nil)
	require.NoError(t, err)
	_, err = r.Run(context.Background(), nil, nil)
	require.ErrorIs(t, err, ErrTimeout)

	b, err := os.ReadFile(pidFile)
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		// Signal 0 probes; ESRCH means gone. A zombie still answers, but
		// sleep is reparented to init, which reaps it.
		return syscall.Kill(pid, 0) == syscall.ESRCH
	}, 10*time.Second, 20*time.Millisecond, "the hook's child survived the timeout")
}

func TestContextCancelStopsRun(t *testing.T) {
	r, err := New(Config{Command: []string{script(t, "sleep 30")}}, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	_, err = r.Run(ctx, nil, nil)
	require.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, ErrTimeout)
}

// TestConcurrencyBound runs more hooks than slots and checks that no more
// than Concurrency ran at once, by having each hook hold a lock file.
func TestConcurrencyBound(t *testing.T) {
	dir := t.TempDir()
	// Each run creates a marker, counts the markers, and removes its own.
	body := `m=` + dir + `/$$; : > $m; ls ` + dir + ` | wc -l; sleep 0.2; rm $m`
	r, err := New(Config{Command: []string{script(t, body)}, Concurrency: 2}, nil)
	require.NoError(t, err)
	var wg sync.WaitGroup
	counts := make(chan int, 6)
	for range 6 {
		wg.Go(func() {
			res, err := r.Run(context.Background(), nil, nil)
			if assert.NoError(t, err) {
				n, _ := strconv.Atoi(strings.TrimSpace(string(res.Stdout)))
				counts <- n
			}
		})
	}
	wg.Wait()
	close(counts)
	seen := 0
	for n := range counts {
		seen++
		assert.LessOrEqual(t, n, 2)
		assert.GreaterOrEqual(t, n, 1)
	}
	assert.Equal(t, 6, seen)
}

func TestWaitForSlotHonoursContext(t *testing.T) {
	r, err := New(Config{Command: []string{script(t, "sleep 30")}, Concurrency: 1}, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { _, _ = r.Run(ctx, nil, nil); close(done) }()
	require.Eventually(t, func() bool { return len(r.slots) == 1 }, 5*time.Second, 10*time.Millisecond)
	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	_, err = r.Run(short, nil, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorContains(t, err, "free slot")
	cancel()
	<-done
}

func TestBadEnv(t *testing.T) {
	r, err := New(Config{Command: []string{"/bin/true"}}, nil)
	require.NoError(t, err)
	for _, env := range []map[string]string{{"": "x"}, {"A=B": "x"}, {"A": "x\x00y"}} {
		_, err := r.Run(context.Background(), nil, env)
		assert.Error(t, err, "%q", env)
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"zero", Config{}, ""},
		{"command", Config{Command: []string{"/bin/cat"}}, ""},
		{"empty program", Config{Command: []string{""}}, "program"},
		{"negative timeout", Config{Timeout: -1}, "timeout"},
		{"negative output", Config{MaxOutput: -1}, "max_output"},
		{"too much concurrency", Config{Concurrency: 5000}, "concurrency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				assert.NoError(t, err)
			} else {
				assert.ErrorContains(t, err, tt.wantErr)
			}
		})
	}
	_, err := New(Config{}, nil)
	assert.ErrorIs(t, err, ErrDisabled)
	assert.Equal(t, DefaultMaxOutput, Config{}.WithDefaults().MaxOutput)
}
