package attencent_test

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/bus/attencent"
	"github.com/iotd/iotd/drivers/at/atsim"
	"github.com/iotd/iotd/hubsim"
)

// nextOTA waits for the module's next OTA event.
func nextOTA(t *testing.T, r *rig) attencent.OTAEvent {
	t.Helper()
	select {
	case ev := <-r.up.OTAEvents():
		return ev
	case <-time.After(guard):
		t.Fatal("no OTA event")
	}
	return attencent.OTAEvent{}
}

// fwImage is every byte value and the lines an AT reader would stop at,
// not a multiple of the 4096-byte chunk.
func fwImage() []byte {
	var all []byte
	for i := range 256 {
		all = append(all, byte(i))
	}
	return bytes.Repeat(append(all, "\r\nOK\r\n+TCREADFWDATA:4,\r\nready\r\n"...), 45)
}

// pushed uploads image as version, pushes it and waits for the module
// to have downloaded it.
func pushed(t *testing.T, r *rig, version string, image []byte) {
	t.Helper()
	dev := hubsim.DeviceRef{ProductID: r.info.ProductID, DeviceName: r.info.DeviceName}
	_, err := r.hub.OTA().Upload("mcu-"+version+".bin", version, image)
	require.NoError(t, err)
	_, err = r.hub.OTA().Push(dev, hubsim.OTAPushRequest{Version: version})
	require.NoError(t, err)
	assert.Equal(t, attencent.OTADownloading, nextOTA(t, r).Kind)
	assert.Equal(t, attencent.OTADownloaded, nextOTA(t, r).Kind)
}

// readAll reads the module's image into memory.
func readAll(t *testing.T, r *rig) ([]byte, attencent.FirmwareInfo) {
	t.Helper()
	var got bytes.Buffer
	info, err := r.up.ReadFirmware(r.ctx, func(attencent.FirmwareInfo) (io.Writer, error) { return &got, nil })
	require.NoError(t, err)
	return got.Bytes(), info
}

// The module's OTA through the uplink: SetOTAVersion reports the version,
// a push from hubsim is downloaded by the module, and ReadFirmware reads
// the image out byte-exact while a publish goes through; a corrupt push
// ends in OTAFailed with the module's code and nothing to read.
func TestModuleOTA(t *testing.T) {
	r := startRig(t, atsim.DialectTencent)
	r.connected(t, 1)
	dev := hubsim.DeviceRef{ProductID: r.info.ProductID, DeviceName: r.info.DeviceName}
	hubOTA := r.hub.OTA()
	r.up.SetOTAVersion("1.0.0")
	require.Eventually(t, func() bool { return hubOTA.DeviceStatus(dev).Version == "1.0.0" }, guard, 10*time.Millisecond)

	image := fwImage()
	pushed(t, r, "2.0.0", image)

	var got bytes.Buffer
	var opened attencent.FirmwareInfo
	published := make(chan error, 1)
	info, err := r.up.ReadFirmware(r.ctx, func(fi attencent.FirmwareInfo) (io.Writer, error) {
		opened = fi
		go func() { published <- r.bus.CloudPublish(r.ctx, r.topic("event"), []byte(`{"during":"read"}`), 1) }()
		return &got, nil
	})
	require.NoError(t, err)
	assert.Equal(t, image, got.Bytes())
	sum := md5.Sum(image)
	assert.Equal(t, attencent.FirmwareInfo{Version: "2.0.0", Size: len(image), MD5: hex.EncodeToString(sum[:]), Space: 716800}, info)
	assert.Equal(t, info, opened)
	require.NoError(t, <-published, "a publish goes through between the chunks")
	r.hubGot(t, r.topic("event"), `{"during":"read"}`)

	t.Run("a corrupt image", func(t *testing.T) {
		r.up.SetOTAVersion("2.0.0") // the task ended with the download
		require.Eventually(t, func() bool { return hubOTA.DeviceStatus(dev).Version == "2.0.0" }, guard, 10*time.Millisecond)
		_, err := hubOTA.Push(dev, hubsim.OTAPushRequest{Version: "2.0.0", MD5: strings.Repeat("0", 32)})
		require.NoError(t, err)
		assert.Equal(t, attencent.OTADownloading, nextOTA(t, r).Kind)
		assert.Equal(t, attencent.OTAEvent{Kind: attencent.OTAFailed, Code: 205}, nextOTA(t, r))
		assert.Contains(t, attencent.FailReason(205), "MD5")
		_, err = r.up.ReadFirmware(r.ctx, func(attencent.FirmwareInfo) (io.Writer, error) { return io.Discard, nil })
		require.Error(t, err)
		assert.Contains(t, err.Error(), "not valid")
	})

	t.Run("refused by the reader", func(t *testing.T) {
		r.up.SetOTAVersion("2.0.0")
		require.Eventually(t, func() bool {
			return r.modem.Stats().ByName["AT+TCOTASET"] >= 3
		}, guard, 10*time.Millisecond)
		pushed(t, r, "3.0.0", image[:5000])
		_, err := r.up.ReadFirmware(r.ctx, func(attencent.FirmwareInfo) (io.Writer, error) {
			return nil, assert.AnError
		})
		assert.ErrorIs(t, err, assert.AnError)
		got, _ := readAll(t, r) // after all, from the start
		assert.Equal(t, image[:5000], got)
	})
}

// With the module's output cut into fragments anywhere, headers and data
// included, the image still arrives byte-exact.
func TestModuleOTAFragmented(t *testing.T) {
	r := startRig(t, atsim.DialectTencent, atsim.Fault{Kind: atsim.Fragment})
	r.connected(t, 1)
	r.up.SetOTAVersion("1.0.0")
	require.Eventually(t, func() bool {
		return r.hub.OTA().DeviceStatus(hubsim.DeviceRef{ProductID: r.info.ProductID, DeviceName: r.info.DeviceName}).Version == "1.0.0"
	}, guard, 10*time.Millisecond)
	image := fwImage()[:9000]
	pushed(t, r, "1.1.0", image)
	got, info := readAll(t, r)
	assert.Equal(t, image, got)
	assert.Equal(t, len(image), info.Size)
}
