package atsim_test

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/drivers/at/atsim"
	"github.com/iotd/iotd/hubsim"
)

// TestTencentOTA: the module reports its MCU's version, downloads the
// firmware hubsim pushes over real HTTPS, reports progress, and the host
// reads the image back, raw bytes, a chunk at a time.
func TestTencentOTA(t *testing.T) {
	hub := startTCHub(t)
	_, h := tcUp(t, hub, atsim.Config{})
	hub.connect(h, "5000,240,1,1")
	dev := hubsim.DeviceRef{ProductID: hub.info.ProductID, DeviceName: hub.info.DeviceName}
	ota := hub.OTA()

	h.do(`AT+TCOTASET=1,"1.0.0"`, "OK", "+TCOTASET:OK")
	require.Eventually(t, func() bool { return ota.DeviceStatus(dev).Version == "1.0.0" }, guard, 10*time.Millisecond)
	h.do("AT+TCOTASET?", `+TCOTASET:1,"1.0.0"`, "OK")
	h.do("AT+TCMQTTSUB?", fmt.Sprintf(`+TCMQTTSUB:"$ota/update/%s/%s",1`, dev.ProductID, dev.DeviceName), "OK")

	// every byte value, and lines an AT reader would stop at
	image := bytes.Repeat(append(allBytes(), "\r\nOK\r\n+TCREADFWDATA:"...), 40)
	_, err := ota.Upload("mcu.bin", "2.0.0", image)
	require.NoError(t, err)
	_, err = ota.Push(dev, hubsim.OTAPushRequest{Version: "2.0.0"})
	require.NoError(t, err)
	h.expect("+TCOTASTATUS:ENTERUPDATE", "+TCOTASTATUS:UPDATESUCCESS")
	require.Eventually(t, func() bool { return ota.DeviceStatus(dev).State == "done" }, guard, 10*time.Millisecond)

	sum := md5.Sum(image)
	info := fmt.Sprintf(`+TCFWINFO:"2.0.0",%d,"%s",716800`, len(image), hex.EncodeToString(sum[:]))
	h.do("AT+TCFWINFO?", "OK", info)
	var got []byte
	for len(got) < len(image) {
		h.do("AT+TCREADFWDATA=4096", "OK")
		chunk := h.fwData()
		require.NotEmpty(t, chunk)
		got = append(got, chunk...)
	}
	assert.Equal(t, image, got)
	h.do("AT+TCREADFWDATA=16", "+CME ERROR:208") // read to the end
	h.do("AT+TCFWINFO?", "OK", info)             // rewinds
	h.do("AT+TCREADFWDATA=4097", "+CME ERROR:204")
	h.do("AT+TCREADFWDATA=16", "OK")
	assert.Equal(t, image[:16], h.fwData())

	t.Run("a corrupt image", func(t *testing.T) {
		h.t = t
		h.do(`AT+TCOTASET=1,"2.0.0"`, "OK", "+TCOTASET:OK")
		_, err := ota.Push(dev, hubsim.OTAPushRequest{Version: "2.0.0", MD5: strings.Repeat("0", 32)})
		require.NoError(t, err)
		h.expect("+TCOTASTATUS:ENTERUPDATE", "+TCOTASTATUS:UPDATEFAIL,205")
		require.Eventually(t, func() bool {
			st := ota.DeviceStatus(dev)
			return st.State == "fail" && st.ResultCode == "-4"
		}, guard, 10*time.Millisecond)
		h.do("AT+TCFWINFO?", "+CME ERROR:208")
	})
}

// fwData reads "+TCREADFWDATA:<n>," and the n raw bytes and CR LF after it.
func (h *tcHost) fwData() []byte {
	h.t.Helper()
	var data []byte
	h.wait("+TCREADFWDATA", func(b []byte) int {
		const head = "+TCREADFWDATA:"
		if len(b) < len(head) {
			return 0
		}
		require.Equal(h.t, head, string(b[:len(head)]), "output %q", b)
		i := bytes.IndexByte(b, ',')
		if i < 0 {
			return 0
		}
		n, err := strconv.Atoi(string(b[len(head):i]))
		require.NoError(h.t, err)
		if len(b) < i+1+n+2 {
			return 0
		}
		require.Equal(h.t, "\r\n", string(b[i+1+n:i+1+n+2]))
		data = append([]byte(nil), b[i+1:i+1+n]...)
		return i + 1 + n + 2
	})
	return data
}
