package hubsim

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func otaHTTP(t *testing.T, h *Hub) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: caConfig(t, h)}}
}

func get(t *testing.T, c *http.Client, url, rng string) (int, []byte, http.Header, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header, err
}

func TestOTAFileServer(t *testing.T) {
	h := startHub(t, "")
	c := NewClient(h.AdminURL())
	ctx := context.Background()
	data := make([]byte, 100000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	fw, err := c.UploadFirmware(ctx, "", "1.2.0", data)
	require.NoError(t, err)
	sum := md5.Sum(data)
	assert.Equal(t, hex.EncodeToString(sum[:]), fw.MD5)
	assert.Equal(t, int64(len(data)), fw.Size)
	info, err := c.OTAInfo(ctx)
	require.NoError(t, err)
	assert.Equal(t, info.BaseURL+"firmware-1.2.0.bin", fw.URL)
	hc := otaHTTP(t, h)

	tests := []struct {
		name     string
		faults   OTAFaults
		rng      string
		status   int
		body     []byte
		cutError bool
	}{
		{"whole file", OTAFaults{}, "", 200, data, false},
		{"inclusive range", OTAFaults{}, "bytes=99990-99999", 206, data[99990:], false},
		{"open range", OTAFaults{}, "bytes=50000-", 206, data[50000:], false},
		{"not found fault", OTAFaults{Status: 404}, "", 404, nil, false},
		{"forbidden fault", OTAFaults{Status: 403}, "", 403, nil, false},
		{"cut after 30000 bytes", OTAFaults{CloseAfter: 30000}, "", 200, data[:30000], true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NoError(t, c.SetOTAFaults(ctx, tt.faults))
			before := h.OTA().BytesServed()
			status, body, _, err := get(t, hc, fw.URL, tt.rng)
			if tt.cutError {
				require.Error(t, err, "a cut body is an unexpected EOF")
				assert.Equal(t, tt.body, body)
			} else {
				require.NoError(t, err)
				if tt.body != nil {
					assert.Equal(t, tt.body, body)
				}
			}
			assert.Equal(t, tt.status, status)
			if tt.body != nil {
				assert.Equal(t, int64(len(tt.body)), h.OTA().BytesServed()-before)
			}
			reqs := h.OTA().Info().Requests
			last := reqs[len(reqs)-1]
			assert.Equal(t, tt.rng, last.Range)
			assert.Equal(t, tt.cutError, last.Cut)
		})
	}
	require.NoError(t, c.SetOTAFaults(ctx, OTAFaults{}))
	status, _, _, err := get(t, hc, info.BaseURL+"nope.bin", "")
	require.NoError(t, err)
	assert.Equal(t, 404, status)
	assert.Error(t, c.SetOTAFaults(ctx, OTAFaults{Status: 200}))
}

// A device's reports are recorded; report_version is answered with
// report_version_rsp; a push reaches the device.
func TestOTAPushAndReports(t *testing.T) {
	h := startHub(t, "")
	_, err := h.CreateDevice("POTAHUB001", "dev", false)
	require.NoError(t, err)
	c := NewClient(h.AdminURL())
	ctx := context.Background()
	_, err = c.UploadFirmware(ctx, "", "2.0.0", []byte("firmware"))
	require.NoError(t, err)
	_, err = c.PushOTA(ctx, "POTAHUB001", "dev", OTAPushRequest{Version: "2.0.0"})
	require.ErrorContains(t, err, "offline")

	cl := connectKey(t, h, tcpConn(h), "POTAHUB001", "dev")
	var mu sync.Mutex
	var got []map[string]any
	tok := cl.Subscribe("$ota/update/POTAHUB001/dev", 1, func(_ paho.Client, m paho.Message) {
		var v map[string]any
		_ = json.Unmarshal(m.Payload(), &v)
		mu.Lock()
		got = append(got, v)
		mu.Unlock()
	})
	require.True(t, tok.WaitTimeout(10e9))
	require.NoError(t, tok.Error())
	cl.Publish("$ota/report/POTAHUB001/dev", 1, false, `{"type":"report_version","report":{"version":"1.0.0"}}`).Wait()
	waitFor(t, "report_version_rsp", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 1 })
	assert.Equal(t, "report_version_rsp", got[0]["type"])

	u, err := c.PushOTA(ctx, "POTAHUB001", "dev", OTAPushRequest{Version: "2.0.0", MD5: "00000000000000000000000000000000"})
	require.NoError(t, err)
	assert.Equal(t, "00000000000000000000000000000000", u.MD5)
	waitFor(t, "update_firmware", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 2 })
	assert.Equal(t, "update_firmware", got[1]["type"])
	assert.Equal(t, float64(8), got[1]["file_size"])

	cl.Publish("$ota/report/POTAHUB001/dev", 0, false, `{"type":"report_progress","report":{"progress":{"state":"downloading","percent":"40","result_code":"0","result_msg":""},"version":"2.0.0"}}`).Wait()
	waitFor(t, "progress", func() bool { return h.OTA().DeviceStatus(DeviceRef{"POTAHUB001", "dev"}).Percent == "40" })
	st, err := c.OTAStatus(ctx, "POTAHUB001", "dev")
	require.NoError(t, err)
	assert.Equal(t, "1.0.0", st.Version)
	assert.Equal(t, "2.0.0", st.Target)
	assert.Equal(t, "downloading", st.State)
	assert.Len(t, st.Reports, 2)
}

func TestParseOTAReport(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    OTAReport
		wantErr bool
	}{
		{"version", `{"type":"report_version","report":{"version":"1.0.0"}}`, OTAReport{Type: "report_version", Version: "1.0.0"}, false},
		{"fail", `{"type":"report_progress","report":{"progress":{"state":"fail","result_code":"-4","result_msg":"md5"},"version":"2"}}`,
			OTAReport{Type: "report_progress", Version: "2", State: "fail", ResultCode: "-4", ResultMsg: "md5"}, false},
		{"no progress", `{"type":"report_progress","report":{"version":"2"}}`, OTAReport{}, true},
		{"no version", `{"type":"report_version","report":{}}`, OTAReport{}, true},
		{"other type", `{"type":"x"}`, OTAReport{}, true},
		{"not json", `x`, OTAReport{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseOTAReport([]byte(tt.in))
			if tt.wantErr {
				assert.ErrorIs(t, err, ErrInvalid)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, r)
		})
	}
}

func FuzzParseOTAReport(f *testing.F) {
	f.Add([]byte(`{"type":"report_version","report":{"version":"1.0.0"}}`))
	f.Add([]byte(`{"type":"report_progress","report":{"progress":{"state":"downloading","percent":"31"},"version":"1.3.0"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseOTAReport(data)
		if err == nil && (r.Version == "" || r.Type == "") {
			t.Fatalf("accepted %q as %+v", data, r)
		}
	})
}
