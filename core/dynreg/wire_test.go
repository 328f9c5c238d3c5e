package dynreg

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core"
)

// seen is what a registration endpoint received.
type seen struct {
	method, uri string
	header      http.Header
	close       bool
	body        string
}

// recordingServer answers every request with the hub's "product does not
// exist" and hands what it received to got.
func recordingServer(t *testing.T) (url string, got <-chan seen) {
	t.Helper()
	ch := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- seen{method: r.Method, uri: r.RequestURI, header: r.Header.Clone(), close: r.Close, body: string(b)}
		_, _ = io.WriteString(w, `{"code":1004,"message":"product not exist"}`)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/register/dev", ch
}

// TestRequestIsTheSDKs: the request is the C SDK's v1 registration
// (sdk_src/services/dynreg/dynreg.c) byte for byte where net/http allows.
func TestRequestIsTheSDKs(t *testing.T) {
	no := false
	tests := []struct {
		name        string
		form        *bool
		contentType string
	}{
		{"default: the SDK's form label", nil, "application/x-www-form-urlencoded"},
		{"form_content_type false", &no, "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, got := recordingServer(t)
			info := &core.DeviceInfo{AuthMode: "KEY", ProductID: "PWIRE00001", DeviceName: "dev1", ProductSecret: "vX6PQqazsGsMyf5SMfs6OA6y"}
			now := time.Unix(1568692235, 0)
			_, err := Register(context.Background(), Config{URL: url, FormContentType: tt.form}, nil, info, func() time.Time { return now })
			require.Error(t, err, "the server answers 1004")
			r := <-got
			assert.Equal(t, "POST", r.method)
			assert.Equal(t, "/register/dev", r.uri)
			assert.Equal(t, tt.contentType, r.header.Get("Content-Type"))
			assert.Equal(t, "text/xml,application/json;*/*", r.header.Get("Accept"))
			assert.True(t, r.close, "one request per connection, as the SDK")
			// Accept-Encoding is added by Go's transport (DisableCompression
			// off), not by this package.
			assert.Equal(t, []string{"Accept", "Accept-Encoding", "Connection", "Content-Length", "Content-Type"}, slices.Sorted(maps.Keys(r.header)), "no User-Agent")

			var nonce int64
			_, err = fmt.Sscanf(r.body[strings.Index(r.body, `"nonce":`)+len(`"nonce":`):], "%d", &nonce)
			require.NoError(t, err)
			want := fmt.Sprintf(`{"deviceName":"%s","nonce":%d,"productId":"%s","timestamp":%d,"signature":"%s"}`,
				"dev1", nonce, "PWIRE00001", now.Unix(), Sign(info.ProductSecret, "dev1", nonce, "PWIRE00001", now.Unix()))
			assert.Equal(t, want, r.body, "the SDK's para_format")
			assert.Greater(t, nonce, int64(0))
			assert.Less(t, nonce, int64(1)<<31-1)
		})
	}
}
