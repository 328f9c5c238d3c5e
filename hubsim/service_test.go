package hubsim

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// echoService is a minimal Service: it answers "$echo/req/{pid}/{dn}" on
// "$echo/resp/{pid}/{dn}", lets devices use "shared/..." and mounts an admin
// route.
type echoService struct{}

func (echoService) Name() string { return "echo" }

func (echoService) Start(_ context.Context, h *Hub) error {
	h.Handle("echo", "$echo/req/+/+", func(m Message) {
		_ = h.Publish(strings.Replace(m.Topic, "/req/", "/resp/", 1), append([]byte("echo:"), m.Payload...), 0)
	})
	h.AllowACL(func(_ DeviceRef, topic string, _ bool) bool { return strings.HasPrefix(topic, "shared/") })
	h.Admin().HandleFunc("GET /echo", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	return nil
}

func TestServiceHooks(t *testing.T) {
	h, err := Start(context.Background(), Config{StateDir: t.TempDir(),
		TLSAddr: Off, TCPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		Now: func() time.Time { return testNow }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Services: []Service{echoService{}}})
	require.NoError(t, err)
	defer h.Close()
	_, err = h.CreateDevice("PSVC000001", "dev", false)
	require.NoError(t, err)
	cl := connectKey(t, h, tcpConn(h), "PSVC000001", "dev")

	in := make(inbox, 4)
	assert.Equal(t, byte(0), subscribe(t, cl, "$echo/resp/PSVC000001/dev", 0, in))
	publish(t, cl, "$echo/req/PSVC000001/dev", 0, "ping")
	assert.Equal(t, "echo:ping", string(in.next(t).Payload()))

	assert.Equal(t, byte(0), subscribe(t, cl, "shared/news", 0, in), "an ACL rule widens the ACL")
	require.True(t, h.Ingest(Message{Device: DeviceRef{ProductID: "PSVC000001", DeviceName: "dev"},
		Topic: "shared/news", Payload: []byte("via coap"), Received: testNow}))
	assert.Equal(t, "via coap", string(in.next(t).Payload()))
	assert.False(t, h.Ingest(Message{Device: DeviceRef{ProductID: "PSVC000001", DeviceName: "dev"},
		Topic: "PSVC000001/other/x", Received: testNow}))
	assert.Equal(t, int64(1), h.Status("PSVC000001", "dev").DeniedPublishes)

	resp, err := http.Get(h.AdminURL() + "/echo")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "ok", string(body))
}
