package outbox

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Environment of the crash helper process.
const (
	crashPathEnv = "OUTBOX_CRASH_PATH"
	crashSyncEnv = "OUTBOX_CRASH_SYNC"
)

// A process that appends in a loop, printing every Seq that Append
// returned, is SIGKILLed at a random point; every printed Seq is pending
// when the file is opened again. With SyncInterval too: the page cache
// survives the death of a process.
func TestCrashSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts subprocesses")
	}
	for _, policy := range []SyncPolicy{SyncAlways, SyncInterval} {
		t.Run(string(policy), func(t *testing.T) {
			for round := range 3 {
				path := tempPath(t)
				killAt := 20 + rand.IntN(400)
				printed := runCrashHelper(t, path, policy, killAt)
				require.GreaterOrEqual(t, len(printed), killAt, "round %d: the helper was killed before it printed %d seqs", round, killAt)

				o := openT(t, path, Options{})
				pending := map[uint64]bool{}
				for _, m := range o.Pending() {
					pending[m.Seq] = true
				}
				for _, seq := range printed {
					require.True(t, pending[seq], "round %d: seq %d was acknowledged before SIGKILL but is not pending", round, seq)
				}
				t.Logf("round %d: killed after %d printed seqs, %d pending", round, len(printed), len(pending))
				require.NoError(t, o.Close())
			}
		})
	}
}

// runCrashHelper starts the helper, SIGKILLs it once it has printed killAt
// seqs, and returns every seq it printed.
func runCrashHelper(t *testing.T, path string, policy SyncPolicy, killAt int) []uint64 {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashPathEnv+"="+path, crashSyncEnv+"="+string(policy))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())

	var printed []uint64
	killed := false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		seq, err := strconv.ParseUint(sc.Text(), 10, 64)
		if err != nil {
			continue // the test framework's own lines
		}
		printed = append(printed, seq)
		if len(printed) == killAt {
			require.NoError(t, cmd.Process.Kill())
			killed = true
		}
	}
	// Lines already in the pipe when the helper died are read above.
	err = cmd.Wait()
	if killed {
		assert.ErrorContains(t, err, "killed")
	}
	return printed
}

// TestCrashHelper is the process TestCrashSIGKILL kills: four goroutines
// append and print each Seq Append returned. It ends by itself after a
// bounded number of appends.
func TestCrashHelper(t *testing.T) {
	path := os.Getenv(crashPathEnv)
	if path == "" {
		t.Skip("run by TestCrashSIGKILL")
	}
	o, err := Open(path, Options{Sync: SyncPolicy(os.Getenv(crashSyncEnv)), SyncInterval: 50 * time.Millisecond})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for g := range 4 {
		wg.Go(func() {
			payload := make([]byte, 100+g*1000)
			for range 1000 {
				m, err := o.Append(context.Background(), "crash", 1, payload)
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "%d\n", m.Seq)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	_ = o.Close()
}
