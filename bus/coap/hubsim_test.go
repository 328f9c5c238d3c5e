package coap

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/posix/dtls"
	"github.com/iotd/iotd/hubsim"
)

// TestAuthPayloadReachesHubsim runs the uplink over DTLS with the device's
// PSK against hubsim, which takes only the C SDK's 16-byte auth payload,
// and checks the bytes hubsim received: "21010406;{connId}", the NUL, and
// 0x00 where the SDK sends an uninitialised byte
// (sdk_src/protocol/coap/coap_client_auth.c).
func TestAuthPayloadReachesHubsim(t *testing.T) {
	h, err := hubsim.Start(context.Background(), hubsim.Config{StateDir: t.TempDir(),
		TLSAddr: hubsim.Off, TCPAddr: "127.0.0.1:0", AdminAddr: hubsim.Off, CoAPAddr: "127.0.0.1:0",
		Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Close() })
	const pid, dn = "PCOAPAUTH1", "dev1"
	info, err := h.CreateDevice(pid, dn, false)
	require.NoError(t, err)

	reg := core.NewRegistry()
	require.NoError(t, reg.Register(dtls.New()))
	dcfg, err := json.Marshal(dtls.Config{PSKIdentity: pid + dn, PSK: info.KeyDeviceInfo.DeviceSecret,
		HandshakeTimeout: dtls.Duration(5 * time.Second)})
	require.NoError(t, err)
	b, err := bus.New(bus.Config{}, nil)
	require.NoError(t, err)
	link, err := reg.OpenLink(core.LinkConfig{Driver: "dtls", Address: h.CoAPAddr(), Transport: driver.Datagram,
		DriverConfig: dcfg, Backoff: core.BackoffConfig{Initial: core.Duration(10 * time.Millisecond), Max: core.Duration(50 * time.Millisecond)}},
		core.LinkOptions{OnState: b.PublishLinkState})
	require.NoError(t, err)
	cfg := fastConfig()
	cfg.ProductID, cfg.DeviceName = pid, dn
	d := runDevice(t, b, link, cfg)

	topic := pid + "/" + dn + "/data"
	require.NoError(t, publish(t, d, topic, []byte(`{"n":1}`)))
	d.stop()

	got := h.CoAP().LastAuthPayload(hubsim.DeviceRef{ProductID: pid, DeviceName: dn})
	require.Len(t, got, 16, "%q", got)
	assert.Regexp(t, `^21010406;[A-Za-z0-9]{5}$`, string(got[:14]))
	assert.Equal(t, []byte{0x00, 0x00}, got[14:], "the NUL, then 0x00 for the SDK's uninitialised byte")
	st := h.CoAP().Stats()
	assert.Equal(t, int64(1), st.AuthOK)
	assert.Equal(t, int64(0), st.AuthFailed)
	assert.Equal(t, int64(1), st.Publishes)
}
