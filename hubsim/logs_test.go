package hubsim

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// logBody builds an upload by hand, independently of features/logupload.
func logBody(mode byte, pid, dn, key string, ts int64, lines ...string) []byte {
	rest := fmt.Sprintf("%c###%s%s%010d", mode, pid+strings.Repeat("#", 10-len(pid)), dn+strings.Repeat("#", 48-len(dn)), ts)
	for _, l := range lines {
		rest += l + LogDelimiter
	}
	m := hmac.New(sha1.New, []byte(key))
	m.Write([]byte(rest))
	return append([]byte(hex.EncodeToString(m.Sum(nil))), rest...)
}

func postLog(t *testing.T, h *Hub, body []byte) (int, logAnswer) {
	t.Helper()
	resp, err := http.Post(h.AdminURL()+"/cgi-bin/report-log", "text/plain;charset=utf-8", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var a struct {
		Retcode *int
		Msg     string
	}
	if json.Unmarshal(data, &a) != nil || a.Retcode == nil {
		return resp.StatusCode, logAnswer{Retcode: -999, Msg: "no Retcode in " + string(data)}
	}
	return resp.StatusCode, logAnswer{Retcode: *a.Retcode, Msg: a.Msg}
}

func TestLogEndpoint(t *testing.T) {
	h := startHub(t, "")
	ctx := context.Background()
	c := NewClient(h.AdminURL())
	key, err := h.Store().CreateDevice("PLOG000001", "k1", AuthKey)
	require.NoError(t, err)
	cert, err := h.Store().CreateDevice("PLOG000001", "c1", AuthCert)
	require.NoError(t, err)
	certKey := strings.Split(cert.CertPEM, "\n")[1][:24]

	tests := []struct {
		name      string
		body      []byte
		status    int
		retcode   int
		dev       string
		wantLines int
	}{
		{"key device", logBody('P', "PLOG000001", "k1", key.Secret[:24], 1700000000, "ERR|a", "INF|b"), 200, 0, "k1", 2},
		{"cert device", logBody('C', "PLOG000001", "c1", certKey, 0, "WRN|c"), 200, 0, "c1", 1},
		{"wrong key", logBody('P', "PLOG000001", "k1", "wrong", 1700000000, "ERR|x"), 200, -3, "k1", 2},
		{"wrong mode", logBody('C', "PLOG000001", "k1", key.Secret[:24], 1700000000, "ERR|x"), 200, -3, "k1", 2},
		{"unknown device", logBody('P', "PLOG000001", "nobody", "k", 1, "ERR|x"), 200, -2, "k1", 2},
		{"short", []byte("abc"), 400, -1, "k1", 2},
		{"bad header", append(logBody('P', "PLOG000001", "k1", "k", 1)[:41], strings.Repeat("x", 80)...), 400, -1, "k1", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, a := postLog(t, h, tt.body)
			assert.Equal(t, tt.status, status)
			assert.Equal(t, tt.retcode, a.Retcode, a.Msg)
			ls, err := c.Logs(ctx, "PLOG000001", tt.dev)
			require.NoError(t, err)
			assert.Len(t, ls, tt.wantLines)
		})
	}
	ls, err := c.Logs(ctx, "PLOG000001", "k1")
	require.NoError(t, err)
	assert.Equal(t, "ERR|a", ls[0].Line)
	assert.Equal(t, int64(1700000000), ls[0].Timestamp)

	for _, mode := range []string{FaultDown, FaultGarbage} {
		require.NoError(t, c.SetFault(ctx, "log", mode))
		status, a := postLog(t, h, logBody('P', "PLOG000001", "k1", key.Secret[:24], 1, "ERR|lost"))
		assert.False(t, status == 200 && a.Retcode == 0, "fault %s answers no success", mode)
	}
	require.Error(t, c.SetFault(ctx, "log", "sometimes"))
	require.NoError(t, c.SetFault(ctx, "log", FaultNone))
	status, a := postLog(t, h, logBody('P', "PLOG000001", "k1", key.Secret[:24], 1, "ERR|back"))
	assert.Equal(t, 200, status)
	assert.Equal(t, 0, a.Retcode)
}

func TestLogLevelService(t *testing.T) {
	h := startHub(t, "")
	ctx := context.Background()
	_, err := h.Store().CreateDevice("PLOG000002", "d", AuthKey)
	require.NoError(t, err)
	cl := connectKey(t, h, tcpConn(h), "PLOG000002", "d")
	got := make(chan string, 4)
	tok := cl.Subscribe("$log/operation/result/PLOG000002/d", 0, func(_ paho.Client, m paho.Message) { got <- string(m.Payload()) })
	require.True(t, tok.WaitTimeout(5e9))
	require.NoError(t, tok.Error())

	cl.Publish("$log/operation/PLOG000002/d", 0, false, `{"type":"get_log_level","clientToken":"PLOG000002-1"}`).WaitTimeout(5e9)
	var reply map[string]any
	require.NoError(t, json.Unmarshal([]byte(<-got), &reply))
	assert.Equal(t, "PLOG000002-1", reply["clientToken"])
	assert.Equal(t, float64(DefaultLogLevel), reply["log_level"])

	c := NewClient(h.AdminURL())
	require.NoError(t, c.SetLogLevel(ctx, "PLOG000002", "d", 4))
	require.NoError(t, json.Unmarshal([]byte(<-got), &reply))
	assert.Equal(t, float64(4), reply["log_level"], "a level change is pushed")
	require.Error(t, c.SetLogLevel(ctx, "PLOG000002", "d", 5))
	require.Error(t, c.SetLogLevel(ctx, "PLOG000002", "nobody", 1))
}

func FuzzParseLogBody(f *testing.F) {
	f.Add(logBody('P', "PLOG000001", "k1", "key", 1700000000, "ERR|a", "INF|b"))
	f.Add(logBody('C', "P", "d", "key", 0))
	f.Add([]byte(strings.Repeat("0", 112)))
	f.Fuzz(func(t *testing.T, body []byte) {
		u, err := ParseLogBody(body)
		if err != nil {
			return
		}
		assert.NoError(t, ValidateProductID(u.ProductID))
		assert.NoError(t, ValidateDeviceName(u.DeviceName))
		for _, l := range u.Lines {
			assert.NotContains(t, l, LogDelimiter)
		}
		_ = VerifyLogBody(body, "k")
	})
}
