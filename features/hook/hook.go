package hook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// Errors a run reports; test with errors.Is.
var (
	// ErrTimeout means the command ran longer than the timeout and was
	// killed with its process group.
	ErrTimeout = errors.New("hook: timed out")
	// ErrFailed means the command could not start or exited non-zero.
	ErrFailed = errors.New("hook: command failed")
	// ErrOutputTooLarge means stdout exceeded MaxOutput; the run is treated
	// as failed because a truncated reply would be wrong.
	ErrOutputTooLarge = errors.New("hook: output too large")
	// ErrDisabled means no command is configured.
	ErrDisabled = errors.New("hook: no command configured")
)

// stderrMax bounds how much of a command's stderr is kept for the log.
const stderrMax = 4 << 10

// killGrace is how long Wait waits for stdout and stderr to close after the
// process was killed; a grandchild that escaped the process group and holds
// the pipes cannot block a run for longer.
const killGrace = 2 * time.Second

// Result is the outcome of a run that exited 0.
type Result struct {
	// Stdout is what the command wrote, at most MaxOutput bytes.
	Stdout   []byte
	Duration time.Duration
}

// Runner runs one configured command. It is safe for concurrent use.
type Runner struct {
	cfg   Config
	log   *slog.Logger
	slots chan struct{}
}

// New returns a runner for cfg, which must be enabled. log may be nil. New
// does not check that the program exists: it may be installed later; a
// missing program is reported by every run.
func New(cfg Config, log *slog.Logger) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !cfg.Enabled() {
		return nil, ErrDisabled
	}
	cfg.setDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Runner{cfg: cfg, log: log.With("hook", cfg.Command[0]), slots: make(chan struct{}, cfg.Concurrency)}, nil
}

// Config returns the runner's configuration with defaults applied.
func (r *Runner) Config() Config { return r.cfg }

// Run executes the command once with payload on stdin and env added to the
// environment (keys such as "IOTD_TOPIC"). It waits for a free slot while
// ctx allows, then runs for at most the configured timeout (or until ctx
// ends, which also kills the command). It returns the command's stdout when
// it exited 0, and otherwise an error wrapping [ErrTimeout], [ErrFailed] or
// [ErrOutputTooLarge], or ctx's error.
func (r *Runner) Run(ctx context.Context, payload []byte, env map[string]string) (Result, error) {
	envList, err := environ(env)
	if err != nil {
		return Result{}, err
	}
	select {
	case r.slots <- struct{}{}:
	case <-ctx.Done():
		return Result{}, fmt.Errorf("hook: waiting for a free slot (%d busy): %w", r.cfg.Concurrency, context.Cause(ctx))
	}
	defer func() { <-r.slots }()

	rctx, cancel := context.WithTimeoutCause(ctx, r.cfg.Timeout, ErrTimeout)
	defer cancel()
	cmd := exec.CommandContext(rctx, r.cfg.Command[0], r.cfg.Command[1:]...)
	cmd.Dir = r.cfg.Dir
	cmd.Env = envList
	cmd.Stdin = bytes.NewReader(payload)
	stdout := &limitedBuffer{max: r.cfg.MaxOutput}
	stderr := &limitedBuffer{max: stderrMax}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	setProcessGroup(cmd)
	cmd.WaitDelay = killGrace

	start := time.Now()
	err = cmd.Run()
	took := time.Since(start)
	if s := strings.TrimSpace(stderr.String()); s != "" {
		r.log.Info("hook stderr", "stderr", s, "truncated", stderr.over > 0)
	}
	switch {
	case errors.Is(context.Cause(rctx), ErrTimeout):
		return Result{}, fmt.Errorf("%w after %s (killed; raise the hook's timeout or make %s faster)", ErrTimeout, r.cfg.Timeout, r.cfg.Command[0])
	case ctx.Err() != nil:
		return Result{}, fmt.Errorf("hook: %s stopped: %w", r.cfg.Command[0], context.Cause(ctx))
	case err != nil:
		return Result{}, fmt.Errorf("%w: %s: %w", ErrFailed, r.cfg.Command[0], err)
	case stdout.over > 0:
		return Result{}, fmt.Errorf("%w: %s wrote more than %d bytes to stdout (max_output)", ErrOutputTooLarge, r.cfg.Command[0], r.cfg.MaxOutput)
	}
	return Result{Stdout: stdout.Bytes(), Duration: took}, nil
}

// environ returns iotd's environment with env added (env wins).
func environ(env map[string]string) ([]string, error) {
	out := os.Environ()
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := env[k]
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.ContainsRune(v, 0) {
			return nil, fmt.Errorf("hook: environment variable %q: name must be non-empty without '=' or NUL, value without NUL", k)
		}
		out = slices.DeleteFunc(out, func(kv string) bool { return strings.HasPrefix(kv, k+"=") })
		out = append(out, k+"="+v)
	}
	return out, nil
}

// limitedBuffer keeps the first max bytes written and counts the rest. It
// never fails a write, so the command is not killed by SIGPIPE and the run
// ends normally; the caller decides what excess means. It deliberately has
// no ReadFrom, so io.Copy goes through Write.
type limitedBuffer struct {
	buf  bytes.Buffer
	max  int
	over int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	room := b.max - b.buf.Len()
	if room >= len(p) {
		return b.buf.Write(p)
	}
	if room > 0 {
		b.buf.Write(p[:room])
	}
	b.over += len(p) - max(room, 0)
	return len(p), nil
}

func (b *limitedBuffer) Bytes() []byte  { return b.buf.Bytes() }
func (b *limitedBuffer) String() string { return b.buf.String() }
