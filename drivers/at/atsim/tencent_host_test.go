package atsim_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/drivers/at/atsim"
	"github.com/iotd/iotd/hubsim"
	"github.com/iotd/iotd/internal/hubtest"
)

// tcHost drives a modem's pty with raw AT lines and reads its output as
// the byte stream a host's UART driver sees: no AT engine in between, so
// the tests see the firmware's exact framing.
type tcHost struct {
	t    *testing.T
	f    *os.File
	mu   sync.Mutex
	buf  []byte
	more chan struct{}
}

func newTCHost(t *testing.T, path string) *tcHost {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOCTTY, 0)
	require.NoError(t, err)
	h := &tcHost{t: t, f: f, more: make(chan struct{}, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		b := make([]byte, 4096)
		for {
			n, err := f.Read(b)
			if n > 0 {
				h.mu.Lock()
				h.buf = append(h.buf, b[:n]...)
				h.mu.Unlock()
				select {
				case h.more <- struct{}{}:
				default:
				}
			}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { f.Close(); <-done })
	return h
}

// send writes a command line (CR LF, as ESP-AT wants).
func (h *tcHost) send(line string) { h.raw([]byte(line + "\r\n")) }

func (h *tcHost) raw(b []byte) {
	h.t.Helper()
	_, err := h.f.Write(b)
	require.NoError(h.t, err)
}

// wait consumes output with take, which returns how many bytes it used
// or 0 when what it wants has not all come yet.
func (h *tcHost) wait(what string, take func(b []byte) int) {
	h.t.Helper()
	deadline := time.After(guard)
	for {
		// take runs unlocked: it may fail the test (runtime.Goexit). The
		// reader only appends, so the prefix it saw is still there.
		h.mu.Lock()
		b := h.buf
		h.mu.Unlock()
		if n := take(b); n > 0 {
			h.mu.Lock()
			h.buf = h.buf[n:]
			h.mu.Unlock()
			return
		}
		select {
		case <-h.more:
		case <-deadline:
			h.mu.Lock()
			rest := string(h.buf)
			h.mu.Unlock()
			h.t.Fatalf("waiting for %s; unread output %q", what, rest)
		}
	}
}

var crlf = []byte("\r\n")

// line returns the next line that is not empty.
func (h *tcHost) line() string {
	h.t.Helper()
	var l string
	h.wait("a line", func(b []byte) int {
		for off := 0; ; off += 2 {
			i := bytes.Index(b[off:], crlf)
			if i < 0 {
				return 0
			}
			if i > 0 {
				l = string(b[off : off+i])
				return off + i + 2
			}
		}
	})
	return l
}

// do sends a command line and checks the lines that follow.
func (h *tcHost) do(line string, want ...string) {
	h.t.Helper()
	h.send(line)
	h.expect(want...)
}

// expect reads the next lines and checks them.
func (h *tcHost) expect(want ...string) {
	h.t.Helper()
	for _, w := range want {
		require.Equal(h.t, w, h.line())
	}
}

// until reads lines up to want and returns those before it.
func (h *tcHost) until(want string) []string {
	h.t.Helper()
	var seen []string
	for {
		l := h.line()
		if l == want {
			return seen
		}
		seen = append(seen, l)
	}
}

// collect reads lines until every one of want has come, in any order,
// and returns the lines read.
func (h *tcHost) collect(want ...string) []string {
	h.t.Helper()
	missing := map[string]int{}
	for _, w := range want {
		missing[w]++
	}
	var seen []string
	for len(missing) > 0 {
		l := h.line()
		seen = append(seen, l)
		if missing[l]--; missing[l] == 0 {
			delete(missing, l)
		}
	}
	return seen
}

// exactly reads want, after any empty lines.
func (h *tcHost) exactly(want []byte) {
	h.t.Helper()
	h.wait(fmt.Sprintf("%q", want), func(b []byte) int {
		p := bytes.TrimLeft(b, "\r\n")
		if len(p) < len(want) {
			return 0
		}
		require.Equal(h.t, string(want), string(p[:len(want)]))
		return len(b) - len(p) + len(want)
	})
}

// rcvpub reads a +TCMQTTRCVPUB URC, delimiting the payload by its length.
func (h *tcHost) rcvpub() (topic string, payload []byte) {
	h.t.Helper()
	h.wait("+TCMQTTRCVPUB", func(b []byte) int {
		start := len(b) - len(bytes.TrimLeft(b, "\r\n"))
		p := b[start:]
		const head = `+TCMQTTRCVPUB:"`
		if len(p) < len(head) {
			return 0
		}
		require.Equal(h.t, head, string(p[:len(head)]), "output %q", b)
		p = p[len(head):]
		i := bytes.Index(p, []byte(`",`))
		j := bytes.Index(p[max(i, 0):], []byte(`,"`))
		if i < 0 || j <= 0 {
			return 0
		}
		n, err := strconv.Atoi(string(p[i+2 : i+j]))
		require.NoError(h.t, err, "length in %q", b)
		body := p[i+j+2:]
		if len(body) < n+3 {
			return 0
		}
		require.Equal(h.t, "\"\r\n", string(body[n:n+3]), "end of %q", b)
		topic, payload = string(p[:i]), append([]byte(nil), body[:n]...)
		return len(b) - len(body) + n + 3
	})
	return topic, payload
}

// tcHub is a hubsim with a device, and the CA pool that verifies it.
type tcHub struct {
	*hubsim.Hub
	info *core.DeviceInfo
	cas  *x509.CertPool
}

func startTCHub(t *testing.T) *tcHub {
	t.Helper()
	h := hubtest.StartHub(t, nil)
	info, err := h.CreateDevice("TCPROD0001", "dev1", false)
	require.NoError(t, err)
	pem, err := os.ReadFile(h.CAFile())
	require.NoError(t, err)
	cas := x509.NewCertPool()
	require.True(t, cas.AppendCertsFromPEM(pem))
	return &tcHub{Hub: h, info: info, cas: cas}
}

func (hub *tcHub) status() hubsim.Status { return hub.Status(hub.info.ProductID, hub.info.DeviceName) }

// topic is one of the device's own topics.
func (hub *tcHub) topic(leaf string) string {
	return hub.info.ProductID + "/" + hub.info.DeviceName + "/" + leaf
}

// tcUp starts a tencent modem pointed at hub (nil: no hub), with echo off
// and Wi-Fi joined.
func tcUp(t *testing.T, hub *tcHub, cfg atsim.Config) (*atsim.Modem, *tcHost) {
	t.Helper()
	cfg.Dialect = atsim.DialectTencent
	if hub != nil {
		cfg.Tencent = atsim.TencentConfig{Broker: hub.TLSAddr(), RootCAs: hub.cas}
	}
	m, err := atsim.Start(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, m.Close()) })
	h := newTCHost(t, m.Path())
	h.until("ready")
	h.send("ATE0")
	h.until("OK")
	h.do(`AT+CWJAP="lab","secret"`, "WIFI CONNECTED", "WIFI GOT IP", "OK")
	return m, h
}

// devInfo sets the device info; secret "" means the device's own.
func (hub *tcHub) devInfo(h *tcHost, secret string) {
	h.t.Helper()
	if secret == "" {
		secret = hub.info.KeyDeviceInfo.DeviceSecret
	}
	h.do(fmt.Sprintf(`AT+TCDEVINFOSET=1,"%s","%s","%s"`, hub.info.ProductID, hub.info.DeviceName, secret), "OK", "+TCDEVINFOSET:OK")
}

// connect sets the device info and connects with AT+TCMQTTCONN=1,<params>.
func (hub *tcHub) connect(h *tcHost, params string) {
	h.t.Helper()
	hub.devInfo(h, "")
	h.do("AT+TCMQTTCONN=1,"+params, "OK", "+TCMQTTCONN:OK")
	require.Eventually(h.t, func() bool { return hub.status().Connected }, guard, 10*time.Millisecond)
}
