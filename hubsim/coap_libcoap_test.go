package hubsim

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/internal/peers"
)

// libcoapClient finds libcoap's coap-client built with OpenSSL (Debian
// libcoap3-bin). Without it the test is skipped, unless CI is set: CI
// installs it, so there its absence is a failure.
func libcoapClient(t *testing.T) string {
	t.Helper()
	return peers.Need(t, peers.CoAPClient)
}

// runLibcoap runs coap-client and returns what it printed: the response
// payload, at its default verbosity.
func runLibcoap(t *testing.T, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"-B", "10"}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "coap-client %s: %s", args[len(args)-1], stderr.String())
	return string(out)
}

func TestCoAPLibcoapInterop(t *testing.T) {
	bin := libcoapClient(t)
	h, _ := startCoAPHub(t, nil)
	// coap-client takes the key as an argument string, used as is (no
	// hex): use a device whose random secret has no NUL byte.
	var dn string
	var key []byte
	for i := 1; key == nil || bytes.IndexByte(key, 0) >= 0; i++ {
		dn = fmt.Sprintf("dev%d", i)
		d := ensureDevice(t, h, "PCOAPLIB01", dn)
		var err error
		key, err = base64.StdEncoding.DecodeString(d.Secret)
		require.NoError(t, err)
	}
	psk := []string{"-u", "PCOAPLIB01" + dn, "-k", string(key)}
	base := "coaps://" + h.CoAPAddr() + "/PCOAPLIB01/" + dn + "/"

	// The C SDK's 16-byte auth payload: the text, its NUL and one more
	// byte (percent-encoded for coap-client's -e).
	out := runLibcoap(t, bin, append(psk, "-m", "post", "-O", "62,0", "-e", "21010406;Ab3xZ%00%5A", base+CoAPAuthPath)...)
	token := strings.TrimSpace(out)
	require.Regexp(t, `^[A-Z]{10}$`, token)
	assert.Equal(t, []byte("21010406;Ab3xZ\x00Z"), h.CoAP().LastAuthPayload(DeviceRef{ProductID: "PCOAPLIB01", DeviceName: dn}))

	runLibcoap(t, bin, append(psk, "-m", "post", "-O", "61,"+token, "-O", "62,0", "-e", `{"from":"libcoap"}`, base+"data")...)
	assert.Equal(t, []string{`{"from":"libcoap"}`}, messagesOn(h, "PCOAPLIB01", dn, "PCOAPLIB01/"+dn+"/data"))

	// A system topic, split into segments by libcoap, with need-response.
	out = runLibcoap(t, bin, append(psk, "-m", "post", "-O", "61,"+token, "-O", "62,1",
		"-e", `{"type":"report_version","report":{"version":"1.0.0"}}`,
		"coaps://"+h.CoAPAddr()+"/$ota/report/PCOAPLIB01/"+dn)...)
	assert.JSONEq(t, `{"result_code":0,"result_msg":"success","type":"report_version_rsp","version":"1.0.0"}`, out)
	assert.Equal(t, "1.0.0", h.OTA().DeviceStatus(DeviceRef{ProductID: "PCOAPLIB01", DeviceName: dn}).Version)

	st := h.CoAP().Stats()
	assert.Equal(t, int64(1), st.AuthOK)
	assert.Equal(t, int64(2), st.Publishes)
}
