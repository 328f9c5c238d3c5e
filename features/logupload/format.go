package logupload

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/iotd/iotd/core"
)

// Wire constants of the log service (PROTOCOL.md §3.2).
const (
	HeaderLen = 112
	// Delimiter ends every line.
	Delimiter = "\n\f"
	// MaxLineBytes bounds a line, delimiter included (the SDK's Linux value).
	MaxLineBytes = 1023
	// TruncatedMarker ends a line that was cut.
	TruncatedMarker = "...[truncated]"
	signKeyLen      = 24
)

// Upload levels (the hub's log_level values).
const (
	LevelCommErrors = 0 // errors, sent only after communication errors
	LevelError      = 1
	LevelWarn       = 2
	LevelInfo       = 3
	LevelDebug      = 4
)

// Severity maps a slog level to an upload level: the least upload level
// that keeps it.
func Severity(l slog.Level) int {
	switch {
	case l >= slog.LevelError:
		return LevelError
	case l >= slog.LevelWarn:
		return LevelWarn
	case l >= slog.LevelInfo:
		return LevelInfo
	}
	return LevelDebug
}

func levelTag(sev int) string {
	switch sev {
	case LevelError:
		return "ERR"
	case LevelWarn:
		return "WRN"
	case LevelInfo:
		return "INF"
	}
	return "DBG"
}

// FormatLine renders one line with its delimiter, cut to MaxLineBytes.
// Form feeds in the text become spaces so no line can contain the
// delimiter.
func FormatLine(sev int, t time.Time, file, fn string, line int, text string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%s|%s|%s(%d): ", levelTag(sev), t.Format(time.DateTime), clean(file), clean(fn), line)
	b.WriteString(strings.ReplaceAll(text, "\f", " "))
	s := b.String()
	if max := MaxLineBytes - len(Delimiter); len(s) > max {
		cut := max - len(TruncatedMarker)
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + TruncatedMarker
	}
	return s + Delimiter
}

func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '|' || r == '\n' || r == '\f' || r == '\r' {
			return '_'
		}
		return r
	}, s)
}

// signer builds the 112-byte header of a device's uploads.
type signer struct {
	key    []byte
	prefix []byte // bytes 40..101: mode, ###, pid, dn
}

// newSigner derives the sign key of info (see the package doc). A CERT
// device's certificate file is read here.
func newSigner(info *core.DeviceInfo) (*signer, error) {
	if len(info.ProductID) > core.MaxProductIDLen || len(info.DeviceName) > core.MaxDeviceNameLen {
		return nil, fmt.Errorf("logupload: product id or device name too long for the log header")
	}
	mode := byte('P')
	var key string
	if info.IsCert() {
		mode = 'C'
		k, err := certSignKey(info.CertFile())
		if err != nil {
			return nil, err
		}
		key = k
	} else {
		key = info.KeyDeviceInfo.DeviceSecret
		if key == "" {
			return nil, fmt.Errorf("logupload: the device has no secret to sign uploads with")
		}
		key = key[:min(signKeyLen, len(key))]
	}
	p := []byte{mode, '#', '#', '#'}
	p = append(p, pad(info.ProductID, core.MaxProductIDLen)...)
	p = append(p, pad(info.DeviceName, core.MaxDeviceNameLen)...)
	return &signer{key: []byte(key), prefix: p}, nil
}

func pad(s string, n int) []byte { return []byte(s + strings.Repeat("#", n-len(s))) }

// certSignKey is the first 24 characters of the first base64 line of the
// certificate PEM file.
func certSignKey(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("logupload: read the device certificate for the sign key: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l != "" && !strings.HasPrefix(l, "-----") {
			return l[:min(signKeyLen, len(l))], nil
		}
	}
	return "", fmt.Errorf("logupload: %s holds no PEM certificate to derive the sign key from", path)
}

// body returns a signed POST body for lines at time t.
func (s *signer) body(lines []byte, t time.Time) []byte {
	var ts int64
	if !t.IsZero() && t.Unix() > 0 {
		ts = t.Unix()
	}
	b := bytes.NewBuffer(make([]byte, 0, HeaderLen+len(lines)))
	b.Write(make([]byte, 40))
	b.Write(s.prefix)
	fmt.Fprintf(b, "%010d", ts%1e10)
	b.Write(lines)
	out := b.Bytes()
	m := hmac.New(sha1.New, s.key)
	m.Write(out[40:])
	hex.Encode(out[:40], m.Sum(nil))
	return out
}
