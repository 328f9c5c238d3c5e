package dtls_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/posix/dtls"
)

// TestHubSuitesAgainstOpenSSL checks the CBC_SHA suites, which this package
// implements itself, against an independent implementation: an OpenSSL
// DTLS 1.2 server restricted to one suite, as the hub's mbedTLS is.
func TestHubSuitesAgainstOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	dev := newDevice(t, "PRODUCTIDdevice1")
	for _, suite := range []string{"PSK-AES128-CBC-SHA", "PSK-AES256-CBC-SHA"} {
		t.Run(suite, func(t *testing.T) {
			pc, err := net.ListenPacket("udp", "127.0.0.1:0")
			require.NoError(t, err)
			addr := pc.LocalAddr().String()
			require.NoError(t, pc.Close())

			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, openssl, "s_server", "-dtls1_2", "-accept", addr, "-nocert",
				"-psk", hex.EncodeToString(dev.key), "-psk_identity", dev.clientID, "-cipher", suite)
			stdin, err := cmd.StdinPipe()
			require.NoError(t, err)
			stdout, err := cmd.StdoutPipe()
			require.NoError(t, err)
			cmd.Stderr = cmd.Stdout
			require.NoError(t, cmd.Start())
			lines := make(chan string, 64)
			go func() {
				defer close(lines)
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					lines <- sc.Text()
				}
			}()
			defer func() {
				stdin.Close()
				cancel()
				_ = cmd.Wait()
				for range lines { // drain until the scanner stops
				}
			}()
			waitLine := func(want string) {
				t.Helper()
				for {
					select {
					case l, ok := <-lines:
						require.True(t, ok, "openssl exited before printing %q", want)
						if strings.Contains(l, want) {
							return
						}
					case <-ctx.Done():
						require.FailNow(t, "openssl did not print "+want)
					}
				}
			}
			waitLine("ACCEPT")

			c, err := open(t, dtls.Config{PSKIdentity: dev.clientID, PSK: dev.secret}).Dial(ctx, driver.Datagram, addr)
			require.NoError(t, err)
			defer c.Close()
			require.NoError(t, c.SetDeadline(time.Now().Add(30*time.Second)))
			waitLine("CIPHER is " + suite)

			_, err = c.Write([]byte("from iotd\n"))
			require.NoError(t, err)
			waitLine("from iotd")

			_, err = stdin.Write([]byte("from openssl\n"))
			require.NoError(t, err)
			buf := make([]byte, 64)
			n, err := c.Read(buf)
			require.NoError(t, err)
			assert.Equal(t, "from openssl\n", string(buf[:n]))
		})
	}
}
