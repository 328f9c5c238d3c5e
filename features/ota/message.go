package ota

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Result codes of a fail report (PROTOCOL.md §2.3).
const (
	CodeTimeout       = -1 // the download stalled or kept failing
	CodeNotFound      = -2 // HTTP 404
	CodeForbidden     = -3 // HTTP 403 (e.g. an expired signed URL)
	CodeMD5Mismatch   = -4
	CodeInstallFailed = -5 // the install hook failed, or the disk is full
)

// Topics of the device.
func ReportTopic(pid, dn string) string { return "$ota/report/" + pid + "/" + dn }
func UpdateTopic(pid, dn string) string { return "$ota/update/" + pid + "/" + dn }

// Update is an update_firmware message from the cloud.
type Update struct {
	Version string `json:"version"`
	URL     string `json:"url"`
	MD5     string `json:"md5sum"`
	Size    int64  `json:"file_size"`
}

// MaxFileSize bounds file_size (4 GiB): a larger value is a bad message.
const MaxFileSize = 4 << 30

// ErrBadMessage is wrapped by ParseUpdate errors.
var ErrBadMessage = errors.New("ota: bad update message")

// ParseUpdate decodes a message from $ota/update. It returns ok=false with
// no error for other message types (report_version_rsp), and an error
// wrapping ErrBadMessage for an update_firmware that cannot be acted on.
func ParseUpdate(payload []byte) (u Update, ok bool, err error) {
	var raw struct {
		Type     string          `json:"type"`
		Version  string          `json:"version"`
		URL      string          `json:"url"`
		MD5      string          `json:"md5sum"`
		FileSize json.RawMessage `json:"file_size"`
	}
	if err := json.Unmarshal(payload, &raw); err != nil {
		return Update{}, false, fmt.Errorf("%w: not JSON: %v", ErrBadMessage, err)
	}
	if raw.Type != "update_firmware" {
		return Update{}, false, nil
	}
	bad := func(format string, a ...any) (Update, bool, error) {
		return Update{}, false, fmt.Errorf("%w: update_firmware: "+format, append([]any{ErrBadMessage}, a...)...)
	}
	if err := ValidateVersion(raw.Version); err != nil {
		return bad("version: %v", err)
	}
	md5 := strings.ToLower(raw.MD5)
	if len(md5) != 32 || strings.Trim(md5, "0123456789abcdef") != "" {
		return bad("md5sum %q: want 32 hex digits", raw.MD5)
	}
	// file_size is an integer; tolerate it quoted.
	fs := strings.Trim(string(raw.FileSize), `"`)
	size, perr := strconv.ParseInt(fs, 10, 64)
	if perr != nil || size <= 0 || size > MaxFileSize {
		return bad("file_size %s: want an integer from 1 to %d", string(raw.FileSize), int64(MaxFileSize))
	}
	pu, perr := url.Parse(raw.URL)
	if perr != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
		return bad("url %q: want an absolute http(s) URL", raw.URL)
	}
	return Update{Version: raw.Version, URL: raw.URL, MD5: md5, Size: size}, true, nil
}

// The reports are the C SDK's text byte for byte
// (sdk_src/services/ota/ota_lib.c, qcloud_otalib_gen_info_msg and
// qcloud_otalib_gen_report_msg), spacing included, except that a fail
// report's result_msg says what failed instead of the SDK's constant
// "time_out" (PROTOCOL.md §8.3 item 8). Values are JSON-escaped, which
// changes nothing for a valid version ([ValidateVersion]).

// VersionReport is a report_version message.
func VersionReport(version string) []byte {
	return []byte(`{"type": "report_version", "report":{"version":"` + jsonText(version) + `"}}`)
}

// Progress is the "progress" object of a report_progress message.
type Progress struct {
	State      string `json:"state"`
	Percent    string `json:"percent,omitempty"`
	ResultCode string `json:"result_code"`
	ResultMsg  string `json:"result_msg"`
}

// ProgressReport is a report_progress message for version. The SDK writes
// burning and done reports without the spaces after "report": and
// "version": that its downloading and fail reports have.
func ProgressReport(version string, p Progress) []byte {
	head, tail := `{"type": "report_progress", "report": {"progress": {`, `}, "version": "`
	if p.State == "burning" || p.State == "done" {
		head, tail = `{"type": "report_progress", "report":{"progress":{`, `}, "version":"`
	}
	var b strings.Builder
	b.WriteString(head)
	b.WriteString(`"state":"` + jsonText(p.State) + `", `)
	if p.Percent != "" {
		b.WriteString(`"percent":"` + jsonText(p.Percent) + `", `)
	}
	b.WriteString(`"result_code":"` + jsonText(p.ResultCode) + `", "result_msg":"` + jsonText(p.ResultMsg) + `"`)
	b.WriteString(tail + jsonText(version) + `"}}`)
	return []byte(b.String())
}

// jsonText is s escaped for the inside of a JSON string: quotes,
// backslashes and control characters only (no HTML escaping).
func jsonText(s string) string {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	_ = e.Encode(s) // a string always encodes: "...", then a newline
	out := strings.TrimSuffix(b.String(), "\n")
	return out[1 : len(out)-1]
}
