package plugins

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"sync"

	"github.com/hashicorp/go-plugin/runner"
)

// procRunner is our go-plugin runner: a fresh exec.Cmd per launch (never
// reused), started so that the kernel kills it with the host (Pdeathsig on
// Linux), with stdout filtered so that lines a plugin prints before its
// handshake line cannot break the handshake, and with its exit status kept
// for GoneError.
type procRunner struct {
	cmd    *exec.Cmd
	name   string
	log    *slog.Logger
	stdout io.ReadCloser
	stderr io.ReadCloser

	exited chan struct{} // closed once Wait has returned
	once   sync.Once
	status string // how the process ended; set before exited closes
}

var _ runner.Runner = (*procRunner)(nil)

func newProcRunner(path, name string, env []string, log *slog.Logger) (*procRunner, error) {
	cmd := exec.Command(path)
	cmd.Env = env
	setPdeathsig(cmd)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	r := &procRunner{cmd: cmd, name: name, log: log, stderr: stderr, exited: make(chan struct{})}
	r.stdout = &stdoutFilter{r: bufio.NewReaderSize(stdout, 64<<10), c: stdout, log: log}
	return r, nil
}

func (r *procRunner) Start(context.Context) error {
	if err := r.cmd.Start(); err != nil {
		r.once.Do(func() { r.status = "not started: " + err.Error(); close(r.exited) })
		return err
	}
	return nil
}

func (r *procRunner) Wait(context.Context) error {
	err := r.cmd.Wait()
	r.once.Do(func() {
		r.status = "exit status 0"
		if err != nil {
			r.status = err.Error()
		}
		close(r.exited)
	})
	return err
}

// Kill kills the process at once (go-plugin calls it after a graceful
// shutdown has had its chance).
func (r *procRunner) Kill(context.Context) error {
	if r.cmd.Process == nil {
		return nil
	}
	err := r.cmd.Process.Kill()
	if errors.Is(err, os.ErrProcessDone) {
		return nil
	}
	return err
}

func (r *procRunner) Stdout() io.ReadCloser                            { return r.stdout }
func (r *procRunner) Stderr() io.ReadCloser                            { return r.stderr }
func (r *procRunner) Name() string                                     { return r.name }
func (r *procRunner) Diagnose(context.Context) string                  { return "" }
func (r *procRunner) PluginToHost(n, a string) (string, string, error) { return n, a, nil }
func (r *procRunner) HostToPlugin(n, a string) (string, string, error) { return n, a, nil }

func (r *procRunner) ID() string {
	if r.cmd.Process == nil {
		return ""
	}
	return strconv.Itoa(r.cmd.Process.Pid)
}

// handshakeLine is go-plugin's "CORE|APP|NETWORK|ADDRESS|PROTOCOL..." line.
var handshakeLine = regexp.MustCompile(`^\d+\|\d+\|(unix|tcp)\|[^|]+\|(grpc|netrpc)`)

// stdoutFilter drops (and logs) what a plugin prints to stdout before its
// handshake line (an fmt.Println in some init function), which would
// otherwise fail the start with "Unrecognized remote plugin message".
type stdoutFilter struct {
	r       *bufio.Reader
	c       io.Closer
	log     *slog.Logger
	passing bool
	pending []byte
}

func (f *stdoutFilter) Read(p []byte) (int, error) {
	for !f.passing {
		line, err := f.r.ReadSlice('\n')
		if handshakeLine.Match(line) {
			f.passing = true
			f.pending = append([]byte(nil), line...)
			break
		}
		if len(line) > 0 {
			const show = 200
			s := string(line[:min(len(line), show)])
			f.log.Warn("plugins: ignored a line the plugin wrote to stdout before its handshake; plugins must not print to stdout", "line", s)
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return 0, err
		}
	}
	if len(f.pending) > 0 {
		n := copy(p, f.pending)
		f.pending = f.pending[n:]
		return n, nil
	}
	return f.r.Read(p)
}

func (f *stdoutFilter) Close() error { return f.c.Close() }
