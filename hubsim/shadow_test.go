package hubsim

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func raw(m map[string]string) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	for k, v := range m {
		out[k] = json.RawMessage(v)
	}
	return out
}

func TestShadowDelta(t *testing.T) {
	tests := []struct {
		name              string
		reported, desired map[string]string
		want              map[string]string
	}{
		{"no desired", map[string]string{"a": "1"}, nil, nil},
		{"equal values", map[string]string{"a": "1"}, map[string]string{"a": "1"}, nil},
		{"equal after reformatting", map[string]string{"o": `{"x":1,"y":2}`}, map[string]string{"o": `{ "y": 2, "x": 1 }`}, nil},
		{"differs", map[string]string{"a": "1"}, map[string]string{"a": "2"}, map[string]string{"a": "2"}},
		{"not reported", nil, map[string]string{"b": `"on"`}, map[string]string{"b": `"on"`}},
		{"type differs", map[string]string{"a": `"1"`}, map[string]string{"a": "1"}, map[string]string{"a": "1"}},
		{"mixed", map[string]string{"a": "1", "b": "2"}, map[string]string{"a": "1", "b": "3", "c": "true"},
			map[string]string{"b": "3", "c": "true"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := ShadowDocument{Reported: raw(tt.reported), Desired: raw(tt.desired)}
			if tt.want == nil {
				assert.Nil(t, d.Delta())
				return
			}
			assert.Equal(t, raw(tt.want), d.Delta())
		})
	}
}

func TestShadowApplyUpdate(t *testing.T) {
	base := ShadowDocument{Reported: raw(map[string]string{"a": "1", "b": "2"}), Desired: raw(map[string]string{"a": "5", "c": "7"}), Version: 4}
	tests := []struct {
		name         string
		req          string
		wantReported map[string]string
		wantDesired  map[string]string
		wantChanged  bool
	}{
		{"merge reported", `{"type":"update","state":{"reported":{"b":3,"d":"x"}},"clientToken":"P-1"}`,
			map[string]string{"a": "1", "b": "3", "d": `"x"`}, map[string]string{"a": "5", "c": "7"}, false},
		{"null removes a reported key", `{"type":"update","state":{"reported":{"a":null}}}`,
			map[string]string{"b": "2"}, map[string]string{"a": "5", "c": "7"}, false},
		{"overwrite", `{"type":"update","overwriteUpdate":true,"state":{"reported":{"z":1}}}`,
			map[string]string{"z": "1"}, map[string]string{"a": "5", "c": "7"}, false},
		{"desired null clears", `{"type":"update","state":{"reported":{"a":5},"desired":null}}`,
			map[string]string{"a": "5", "b": "2"}, nil, true},
		{"per-key desired clear", `{"type":"update","state":{"desired":{"a":null}}}`,
			map[string]string{"a": "1", "b": "2"}, map[string]string{"c": "7"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, code, err := ParseShadowRequest([]byte(tt.req))
			require.NoError(t, err)
			require.Equal(t, ShadowOK, code)
			got, changed := applyUpdate(base, req, 1000)
			assert.Equal(t, int64(5), got.Version)
			assert.Equal(t, tt.wantChanged, changed)
			if tt.wantReported == nil {
				assert.Nil(t, got.Reported)
			} else {
				assert.Equal(t, raw(tt.wantReported), got.Reported)
			}
			if tt.wantDesired == nil {
				assert.Nil(t, got.Desired)
			} else {
				assert.Equal(t, raw(tt.wantDesired), got.Desired)
			}
			assert.Equal(t, int64(4), base.Version, "the input document is not modified")
			assert.Len(t, base.Reported, 2, "the input document is not modified")
		})
	}
}

func TestParseShadowRequestRejects(t *testing.T) {
	tests := []struct {
		name, in  string
		wantCode  int
		wantErr   string
		wantToken string
	}{
		{"not json", `{"type":`, ShadowInvalid, "not a JSON object", ""},
		{"array", `[]`, ShadowInvalid, "not a JSON object", ""},
		{"type not a string", `{"type":5,"clientToken":"P-0"}`, ShadowInvalid, "type has the wrong type", "P-0"},
		{"unknown type", `{"type":"patch","clientToken":"P-1"}`, ShadowUnknown, `type "patch"`, "P-1"},
		{"update without state", `{"type":"update","clientToken":"P-2"}`, ShadowInvalid, "without a \"state\"", "P-2"},
		{"reported not an object", `{"type":"update","clientToken":"P-3","state":{"reported":[1]}}`, ShadowInvalid, "state.reported", "P-3"},
		{"empty state", `{"type":"update","clientToken":"P-4","state":{}}`, ShadowInvalid, "neither reported nor desired", "P-4"},
		{"bad version", `{"type":"update","clientToken":"P-5","version":"x","state":{"reported":{}}}`, ShadowInvalid, "version", "P-5"},
		{"too large", `{"type":"update","clientToken":"P-6","state":{"reported":{"a":"` + strings.Repeat("x", MaxShadowBytes) + `"}}}`,
			ShadowTooLarge, "the limit is", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, code, err := ParseShadowRequest([]byte(tt.in))
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrShadowRequest)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.Equal(t, tt.wantCode, code)
			assert.Equal(t, tt.wantToken, r.ClientToken)
		})
	}
}

func FuzzParseShadowRequest(f *testing.F) {
	f.Add([]byte(`{"type":"get","clientToken":"P-0"}`))
	f.Add([]byte(`{"type":"update","version":3,"overwriteUpdate":true,"state":{"reported":{"a":1},"desired":null},"clientToken":"P-1"}`))
	f.Add([]byte(`{"type":"update","state":{"desired":{"a":null}}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, code, err := ParseShadowRequest(b)
		if err != nil {
			if code == ShadowOK {
				t.Fatalf("error %v with result 0", err)
			}
			return
		}
		if r.Type == "update" {
			if !r.HasReported && !r.HasDesired {
				t.Fatal("accepted an update with no state")
			}
			d, _ := applyUpdate(ShadowDocument{}, r, 1)
			if d.Version != 1 {
				t.Fatalf("version %d after one update", d.Version)
			}
			_ = d.Delta()
		}
	})
}

// shadowDevice connects a device over TLS and subscribes to its result
// topic; results arrive on the returned channel.
func shadowDevice(t *testing.T, h *Hub, pid, dn string) (paho.Client, <-chan ShadowResultRaw) {
	t.Helper()
	_, err := h.Store().CreateDevice(pid, dn, AuthKey)
	require.NoError(t, err)
	cl := connectKey(t, h, tlsConn(t, h, caConfig(t, h)), pid, dn)
	ch := make(chan ShadowResultRaw, 16)
	tok := cl.Subscribe("$shadow/operation/result/"+pid+"/"+dn, 0, func(_ paho.Client, m paho.Message) {
		var r ShadowResultRaw
		if json.Unmarshal(m.Payload(), &r) == nil {
			ch <- r
		}
	})
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
	return cl, ch
}

// ShadowResultRaw is a result as a test reads it.
type ShadowResultRaw struct {
	Type        string `json:"type"`
	Result      int    `json:"result"`
	ClientToken string `json:"clientToken"`
	Payload     struct {
		State   map[string]json.RawMessage `json:"state"`
		Version int64                      `json:"version"`
	} `json:"payload"`
}

func recv(t *testing.T, ch <-chan ShadowResultRaw) ShadowResultRaw {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no shadow result")
		return ShadowResultRaw{}
	}
}

func pub(t *testing.T, cl paho.Client, topic, payload string) {
	t.Helper()
	tok := cl.Publish(topic, 0, false, payload)
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
}

func TestShadowServiceOverMQTT(t *testing.T) {
	dir := t.TempDir()
	h := startHub(t, dir)
	const pid, dn = "PSHADOW001", "dev1"
	cl, results := shadowDevice(t, h, pid, dn)
	req := "$shadow/operation/" + pid + "/" + dn
	admin := NewClient(h.AdminURL())
	ctx := context.Background()

	pub(t, cl, req, `{"type":"update","state":{"reported":{"temp":21,"name":"a \"b\""}},"clientToken":"PSHADOW001-0"}`)
	r := recv(t, results)
	assert.Equal(t, "update", r.Type)
	assert.Equal(t, ShadowOK, r.Result)
	assert.Equal(t, "PSHADOW001-0", r.ClientToken)
	assert.Equal(t, int64(1), r.Payload.Version)

	// Desired through the admin API: version 2, delta pushed.
	v, err := admin.SetDesired(ctx, pid, dn, raw(map[string]string{"temp": "25", "mode": `"eco"`}), false)
	require.NoError(t, err)
	assert.Equal(t, int64(2), v.Version)
	r = recv(t, results)
	assert.Equal(t, "delta", r.Type)
	assert.Empty(t, r.ClientToken)
	assert.Equal(t, int64(2), r.Payload.Version)
	assert.Equal(t, raw(map[string]string{"temp": "25", "mode": `"eco"`}), r.Payload.State)

	// A stale version is a conflict and changes nothing.
	pub(t, cl, req, `{"type":"update","version":1,"state":{"desired":null},"clientToken":"PSHADOW001-1"}`)
	r = recv(t, results)
	assert.Equal(t, ShadowConflict, r.Result)
	assert.Equal(t, "PSHADOW001-1", r.ClientToken)
	v, err = admin.Shadow(ctx, pid, dn)
	require.NoError(t, err)
	assert.Equal(t, int64(2), v.Version)
	assert.Len(t, v.Desired, 2)

	// Get returns state.delta.
	pub(t, cl, req, `{"type":"get","clientToken":"PSHADOW001-2"}`)
	r = recv(t, results)
	assert.Equal(t, "get", r.Type)
	assert.Equal(t, int64(2), r.Payload.Version)
	assert.JSONEq(t, `{"temp":25,"mode":"eco"}`, string(r.Payload.State["delta"]))
	assert.JSONEq(t, `{"temp":21,"name":"a \"b\""}`, string(r.Payload.State["reported"]))

	// The right version: report and clear desired.
	pub(t, cl, req, `{"type":"update","version":2,"state":{"reported":{"temp":25},"desired":null},"clientToken":"PSHADOW001-3"}`)
	r = recv(t, results)
	assert.Equal(t, ShadowOK, r.Result)
	assert.Equal(t, int64(3), r.Payload.Version)
	assert.Equal(t, "null", string(r.Payload.State["desired"]))

	// Unknown type answered with a rejection; unparseable ignored.
	pub(t, cl, req, `not json`)
	pub(t, cl, req, `{"type":"frobnicate","clientToken":"PSHADOW001-4"}`)
	r = recv(t, results)
	assert.Equal(t, ShadowUnknown, r.Result)
	assert.Equal(t, "PSHADOW001-4", r.ClientToken)

	// Persisted: 0600, reloaded by a new hub on the same directory.
	fi, err := os.Stat(filepath.Join(dir, shadowFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	cl.Disconnect(100)
	require.NoError(t, h.Close())
	h2 := startHub(t, dir)
	v, err = NewClient(h2.AdminURL()).Shadow(ctx, pid, dn)
	require.NoError(t, err)
	assert.Equal(t, int64(3), v.Version)
	assert.Nil(t, v.Desired)
	assert.JSONEq(t, "25", string(v.Reported["temp"]))
	assert.NotZero(t, v.Metadata.Reported["temp"].Timestamp)
}

func TestShadowDesiredWhileOffline(t *testing.T) {
	h := startHub(t, "")
	const pid, dn = "PSHADOW002", "dev1"
	_, err := h.Store().CreateDevice(pid, dn, AuthKey)
	require.NoError(t, err)
	ctx := context.Background()
	_, err = NewClient(h.AdminURL()).SetDesired(ctx, pid, dn, raw(map[string]string{"on": "true"}), true)
	require.NoError(t, err)
	assert.Empty(t, h.Messages(pid, dn), "nothing is pushed to an offline device")

	cl := connectKey(t, h, tlsConn(t, h, caConfig(t, h)), pid, dn)
	results := make(chan ShadowResultRaw, 4)
	tok := cl.Subscribe("$shadow/operation/result/"+pid+"/"+dn, 0, func(_ paho.Client, m paho.Message) {
		var r ShadowResultRaw
		if json.Unmarshal(m.Payload(), &r) == nil {
			results <- r
		}
	})
	require.True(t, tok.WaitTimeout(10*time.Second))
	pub(t, cl, "$shadow/operation/"+pid+"/"+dn, `{"type":"get","clientToken":"PSHADOW002-0"}`)
	r := recv(t, results)
	assert.JSONEq(t, `{"on":true}`, string(r.Payload.State["delta"]))
	assert.Equal(t, int64(1), r.Payload.Version)
}

func TestParseShadowValues(t *testing.T) {
	got, err := ParseShadowValues([]string{"n=42", "b=true", "s=hello", `q=say "hi"`, `o={"a":1}`, "z=null", "e="})
	require.NoError(t, err)
	assert.Equal(t, raw(map[string]string{"n": "42", "b": "true", "s": `"hello"`, "q": `"say \"hi\""`,
		"o": `{"a":1}`, "z": "null", "e": `""`}), got)
	_, err = ParseShadowValues([]string{"novalue"})
	assert.ErrorIs(t, err, ErrInvalid)
}
