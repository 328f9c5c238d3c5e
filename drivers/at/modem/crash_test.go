package modem_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/at/atsim"
	"github.com/iotd/iotd/drivers/at/modem"
	"github.com/iotd/iotd/drivers/serial"
)

// crashEnv hands the helper process its dialect, port and peer.
const crashEnv = "IOTD_AT_CRASH_HELPER"

// iotd dies (SIGKILL) with a socket open in the modem and a command half
// typed on the line, in a real process on the real pty; the modem lives
// on. The next process connects on its first dial, and the modem is left
// holding only the new socket.
func TestDialAfterACrash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts subprocesses")
	}
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			sim := startSim(t, atsim.Config{Dialect: d, Baud: 115200})
			echo := newEchoServer(t)

			cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
			cmd.Env = append(os.Environ(), crashEnv+"="+strings.Join([]string{d, sim.Path(), echo.addr()}, ","))
			cmd.Stderr = os.Stderr
			out, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			lines := make(chan string, 1)
			go func() {
				sc := bufio.NewScanner(out)
				for sc.Scan() {
					if strings.HasPrefix(sc.Text(), "crash helper:") {
						lines <- sc.Text()
					}
				}
				close(lines)
			}()
			select {
			case l := <-lines:
				require.Equal(t, "crash helper: ready", l)
			case <-time.After(6 * guard):
				_ = cmd.Process.Kill()
				t.Fatal("the helper process did not get ready")
			}
			require.NoError(t, cmd.Process.Kill())
			_ = cmd.Wait()
			require.Len(t, sim.OpenSockets(), 1, "the dead process's socket is still open in the modem")

			before := opens(sim, d)
			c, err := firstDial(t, d, sim, echo.addr())
			require.NoError(t, err, "the first dial after the crash connects")
			roundTrip(t, c, []byte("after a crash"))
			assert.Equal(t, 1, opens(sim, d)-before, "no open refused because an id was in use")
			assert.Len(t, sim.OpenSockets(), 1, "the dead process's socket was closed")
		})
	}
}

// TestCrashHelper is the process TestDialAfterACrash kills: it brings the
// modem up, opens a socket, starts typing a command on the port and waits.
func TestCrashHelper(t *testing.T) {
	spec := os.Getenv(crashEnv)
	if spec == "" {
		t.Skip("the helper process of TestDialAfterACrash")
	}
	parts := strings.Split(spec, ",")
	require.Len(t, parts, 3)
	d, path, addr := parts[0], parts[1], parts[2]
	ctx, cancel := context.WithTimeout(context.Background(), 6*guard)
	defer cancel()
	m, err := modem.OpenModem(ctx, d, modem.Config{Port: path, APN: "internet", SSID: "iotd-lab", WiFiPassword: "lab password"}, nil)
	require.NoError(t, err)
	_, err = m.Dial(ctx, driver.Stream, addr)
	require.NoError(t, err)
	// A command half typed when the process dies: a second descriptor of
	// the same port, as another thread of the dying process would write.
	port, err := serial.Open(serial.Config{Name: path})
	require.NoError(t, err)
	_, err = port.Write([]byte("AT+QISEND=0,"))
	require.NoError(t, err)
	fmt.Println("crash helper: ready")
	time.Sleep(time.Hour) // until SIGKILL
}
