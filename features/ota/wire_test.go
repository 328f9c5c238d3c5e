package ota

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReportsAreTheSDKs: reports are the C SDK's text byte for byte
// (sdk_src/services/ota/ota_lib.c), except a fail report's result_msg.
func TestReportsAreTheSDKs(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"report_version", VersionReport("1.0.0"),
			`{"type": "report_version", "report":{"version":"1.0.0"}}`},
		{"downloading", ProgressReport("1.3.0", Progress{State: "downloading", Percent: "31", ResultCode: "0"}),
			`{"type": "report_progress", "report": {"progress": {"state":"downloading", "percent":"31", "result_code":"0", "result_msg":""}, "version": "1.3.0"}}`},
		{"burning", ProgressReport("1.3.0", Progress{State: "burning", ResultCode: "0"}),
			`{"type": "report_progress", "report":{"progress":{"state":"burning", "result_code":"0", "result_msg":""}, "version":"1.3.0"}}`},
		{"done", ProgressReport("1.3.0", Progress{State: "done", ResultCode: "0"}),
			`{"type": "report_progress", "report":{"progress":{"state":"done", "result_code":"0", "result_msg":""}, "version":"1.3.0"}}`},
		{"fail, with iotd's message escaped", ProgressReport("1.3.0", Progress{State: "fail", ResultCode: "-4", ResultMsg: `md5 "x" <y>` + "\n"}),
			`{"type": "report_progress", "report": {"progress": {"state":"fail", "result_code":"-4", "result_msg":"md5 \"x\" <y>\n"}, "version": "1.3.0"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, string(tt.got))
		})
	}
}

// TestDownloadRequestHeaders: the firmware GET carries the C SDK's Accept,
// the RFC 9110 Range end (size-1, not size), Accept-Encoding identity (not
// the SDK's gzip, deflate) and no User-Agent.
func TestDownloadRequestHeaders(t *testing.T) {
	data := bytes.Repeat([]byte("firmware"), 1000)
	sum := md5.Sum(data)
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		http.ServeContent(w, r, "fw.bin", time.Time{}, bytes.NewReader(data))
	}))
	t.Cleanup(srv.Close)
	d := &Downloader{Client: srv.Client()}
	cp := &Checkpoint{Version: "1.0.0", URL: srv.URL + "/fw.bin", MD5: hex.EncodeToString(sum[:]), Size: int64(len(data)),
		Partial: filepath.Join(t.TempDir(), "fw.part")}
	require.NoError(t, d.Download(context.Background(), cp, func(*Checkpoint) error { return nil }, nil))
	require.NotNil(t, got)
	assert.Equal(t, "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", got.Get("Accept"))
	assert.Equal(t, "bytes=0-7999", got.Get("Range"))
	assert.Equal(t, "identity", got.Get("Accept-Encoding"))
	assert.Equal(t, []string{"Accept", "Accept-Encoding", "Range"}, slices.Sorted(maps.Keys(got)), "no User-Agent")
}
