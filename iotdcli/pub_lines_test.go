package iotdcli

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/hubsim"
)

// runCLIIn is runCLI with stdin and stderr of the test's.
func runCLIIn(ctx context.Context, in string, out, errOut *syncBuf, args ...string) error {
	root := newRoot()
	root.SetIn(strings.NewReader(in))
	root.SetOut(out)
	root.SetErr(errOut)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

// `iotd pub --lines` against a daemon over hubsim: plain lines on --topic,
// --json requests, bad lines refused by number, the hub gets the messages
// in order, the summary on stderr, and the exit status.
func TestPubLines(t *testing.T) {
	hub := startHub(t)
	_, err := hub.CreateDevice("PCLILINES1", "dev1", false)
	require.NoError(t, err)
	dir := t.TempDir()
	_, err = hub.WriteDeviceInfo("PCLILINES1", "dev1", dir)
	require.NoError(t, err)
	sock := filepath.Join(dir, "iotd.sock")
	runDaemon(t, filepath.Join(dir, "iotd.yaml"), fmt.Sprintf(`device_info: device_info.json
socket: %s
link:
  driver: tls
  endpoint: %s
  backoff: {initial: 50ms, max: 500ms}
  driver_config: {ca_file: %s}
`, sock, hub.TLSAddr(), hub.CAFile()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hubGot := func(prefix string) []string {
		var p []string
		for _, m := range hub.Messages("PCLILINES1", "dev1") {
			if strings.HasPrefix(m.Payload, prefix) && !m.Denied {
				p = append(p, m.Payload)
			}
		}
		return p
	}

	// Plain lines: each a payload on --topic; an empty line is skipped.
	var in strings.Builder
	var want []string
	for i := range 20 {
		fmt.Fprintf(&in, "plain-%02d\n", i)
		want = append(want, fmt.Sprintf("plain-%02d", i))
		if i == 4 {
			in.WriteString("\r\n")
		}
	}
	var out, errOut syncBuf
	require.NoError(t, runCLIIn(ctx, in.String(), &out, &errOut, "--socket", sock, "pub", "--lines", "--topic", "event", "--qos", "1"))
	assert.Equal(t, 20, strings.Count(out.String(), ": acknowledged PCLILINES1/dev1/event\n"), out.String())
	assert.Contains(t, out.String(), "line 7: acknowledged") // the 6th message is on line 7
	assert.Contains(t, errOut.String(), "20 messages: 20 acknowledged, 0 stored, 0 refused, 0 not sent; ")
	require.Eventually(t, func() bool { return len(hubGot("plain-")) == 20 }, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, want, hubGot("plain-"), "in the order of the lines")

	// --json: requests with ids; a bad line and a foreign topic are
	// refused by line number, --quiet prints only those, the exit status
	// says so.
	lines := []string{
		`{"id":"a","payload":"json-1","qos":1}`,
		`{"id":"b","topic":"OTHER/dev/event","payload":"json-x"}`,
		`{"payload": `,
		`{"id":"c","payload_base64":"anNvbi0y","qos":0}`,
	}
	out, errOut = syncBuf{}, syncBuf{}
	err = runCLIIn(ctx, strings.Join(lines, "\n"), &out, &errOut, "--socket", sock, "pub", "--lines", "--json", "--topic", "event", "--quiet")
	require.ErrorContains(t, err, "2 of 4 messages refused or not sent")
	assert.NotContains(t, out.String(), "acknowledged")
	assert.Contains(t, out.String(), "line 2: refused: ")
	assert.Contains(t, out.String(), "does not belong to this device")
	assert.Contains(t, out.String(), "[b]")
	assert.Contains(t, out.String(), "line 3: refused: bad JSON request")
	assert.Contains(t, errOut.String(), "4 messages: 2 acknowledged, 0 stored, 2 refused, 0 not sent; ")
	require.Eventually(t, func() bool { return len(hubGot("json-")) == 2 }, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, []string{"json-1", "json-2"}, hubGot("json-"))
	assert.False(t, slices.ContainsFunc(hub.Messages("PCLILINES1", "dev1"), func(m hubsim.Record) bool { return m.Payload == "json-x" }))

	// Usage.
	assert.ErrorContains(t, runCLIIn(ctx, "", &out, &errOut, "--socket", sock, "pub", "--lines"), "--lines needs --topic")
	assert.ErrorContains(t, runCLIIn(ctx, "", &out, &errOut, "--socket", sock, "pub", "--lines", "--topic", "e", "--timeout", "1s"), "--timeout does not apply")
	assert.Error(t, runCLIIn(ctx, "", &out, &errOut, "--socket", sock, "pub", "--lines", "event", "x"))
}
