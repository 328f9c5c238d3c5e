package coap

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	gmsg "github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/posix/dtls"
	"github.com/iotd/iotd/internal/peers"
)

// freePortPair returns a port p such that UDP p and p+1 on 127.0.0.1 are
// free now: coap-server listens for CoAP on p and for DTLS on p+1.
func freePortPair(t *testing.T) int {
	t.Helper()
	for range 50 {
		a, err := net.ListenPacket("udp", "127.0.0.1:0")
		require.NoError(t, err)
		p := a.LocalAddr().(*net.UDPAddr).Port
		b, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(p+1))
		_ = a.Close()
		if err == nil {
			_ = b.Close()
			return p
		}
	}
	require.FailNow(t, "no free port pair")
	return 0
}

// TestInteropLibcoapServer: the dtls driver completes a PSK handshake with
// libcoap's coap-server (OpenSSL), and requests encoded by this package's
// codec get answers that ParseResponse decodes: GET / (2.05 with the
// server's banner), PUT echoed back (2.01), POST on a resource that does
// not take it (4.05).
func TestInteropLibcoapServer(t *testing.T) {
	bin := peers.Need(t, peers.CoAPServer)
	const identity, key = "PRODUCT001dev1", "secretPSK123" // coap-server takes the key as text
	port := freePortPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-A", "127.0.0.1", "-p", strconv.Itoa(port), "-k", key, "-e", "-v", "3")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})

	cfg, err := json.Marshal(dtls.Config{PSKIdentity: identity, PSK: base64.StdEncoding.EncodeToString([]byte(key)),
		HandshakeTimeout: dtls.Duration(5 * time.Second)})
	require.NoError(t, err)
	dl, err := dtls.New().Open(cfg)
	require.NoError(t, err)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port+1))
	var conn driver.Conn
	// The server may still be starting: retry the handshake for a while.
	require.Eventually(t, func() bool {
		c, err := dl.Dial(ctx, driver.Datagram, addr)
		if err != nil {
			return false
		}
		conn = c
		return true
	}, 20*time.Second, 200*time.Millisecond, "no DTLS handshake with coap-server on %s", addr)
	defer conn.Close()

	e := newEngine(conn, fastConfig().withDefaults(), &counters{}, nil)
	e.cfg.AckTimeout = time.Second
	e.log = discardLog()
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.read()
	}()
	defer func() {
		_ = conn.Close()
		<-done
	}()

	rows := []struct {
		name     string
		code     codes.Code
		path     string
		payload  string
		wantCode codes.Code
		wantBody string // prefix
	}{
		{"GET index", codes.GET, "", "", codes.Content, "This is a test server made with libcoap"},
		{"PUT echoed", codes.PUT, "example_data", "hello from iotd", codes.Created, "hello from iotd"},
		{"POST not allowed", codes.POST, "example_data", "x", codes.MethodNotAllowed, ""},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			rctx, rcancel := context.WithTimeout(ctx, 15*time.Second)
			defer rcancel()
			r, err := e.roundTrip(rctx, Request{Code: row.code, Path: row.path, NoFlag: true, Payload: []byte(row.payload)}, true)
			require.NoError(t, err)
			assert.Equal(t, CodeString(row.wantCode), CodeString(r.Code))
			assert.Equal(t, gmsg.Acknowledgement, r.Type, "piggy-backed")
			if row.wantBody != "" {
				assert.Contains(t, string(r.Payload), row.wantBody, fmt.Sprintf("%q", r.Payload))
			}
		})
	}
	assert.Equal(t, int64(0), e.stats.malformed.Load())
}
