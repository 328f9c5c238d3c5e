package attencent

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParseFWInfo(t *testing.T) {
	md5 := "0123456789abcdef0123456789abcdef"
	rows := []struct {
		line string
		want FirmwareInfo
		ok   bool
	}{
		{`+TCFWINFO:"2.0.0",1024,"` + md5 + `",716800`, FirmwareInfo{"2.0.0", 1024, md5, 716800}, true},
		{`+TCFWINFO: "v1,2",7,"` + strings.ToUpper(md5) + `"`, FirmwareInfo{"v1,2", 7, md5, 0}, true},
		{`+TCFWINFO:"2.0.0",716801,"` + md5 + `",716800`, FirmwareInfo{}, false}, // over the module's space
		{`+TCFWINFO:"2.0.0",0,"` + md5 + `",716800`, FirmwareInfo{}, false},
		{`+TCFWINFO:"2.0.0",-1,"` + md5 + `"`, FirmwareInfo{}, false},
		{`+TCFWINFO:"2.0.0",10,"abc",716800`, FirmwareInfo{}, false},
		{`+TCFWINFO:"",10,"` + md5 + `"`, FirmwareInfo{}, false},
		{`+TCFWINFO:2.0.0,10,"` + md5 + `"`, FirmwareInfo{}, false},
		{`+TCFWINFO:"2.0.0",10,"` + md5 + `",x`, FirmwareInfo{}, false},
		{`+TCFWINFO`, FirmwareInfo{}, false},
	}
	for _, r := range rows {
		got, ok := parseFWInfo(r.line)
		assert.Equal(t, r.ok, ok, r.line)
		if r.ok {
			assert.Equal(t, r.want, got, r.line)
		}
	}
}

func TestParseFWDataAndStatus(t *testing.T) {
	n, ok := parseFWDataHeader("+TCREADFWDATA:4096,", 4096)
	assert.True(t, ok)
	assert.Equal(t, 4096, n)
	n, ok = parseFWDataHeader("+TCREADFWDATA: 12,", 4096)
	assert.True(t, ok)
	assert.Equal(t, 12, n)
	for _, bad := range []string{"+TCREADFWDATA:4097,", "+TCREADFWDATA:-1,", "+TCREADFWDATA:5", "+TCREADFWDATA:,", "+TCREADFWDATA:5,x"} {
		_, ok := parseFWDataHeader(bad, 4096)
		assert.False(t, ok, bad)
	}
	rows := map[string]OTAEvent{
		"+TCOTASTATUS:ENTERUPDATE":     {Kind: OTADownloading},
		"+TCOTASTATUS: UPDATESUCCESS":  {Kind: OTADownloaded},
		"+TCOTASTATUS:UPDATEFAIL,205":  {Kind: OTAFailed, Code: 205},
		"+TCOTASTATUS:UPDATEFAIL":      {Kind: OTAFailed},
		"+TCOTASTATUS:UPDATEFAIL, 213": {Kind: OTAFailed, Code: 213},
	}
	for line, want := range rows {
		got, ok := parseOTAStatus(line)
		assert.True(t, ok, line)
		assert.Equal(t, want, got, line)
	}
	for _, bad := range []string{"+TCOTASTATUS:", "+TCOTASTATUS:UPDATEFAIL205", "+TCOTASTATUS:UPDATEFAIL,x", "+TCOTASTATUS:BURN"} {
		_, ok := parseOTAStatus(bad)
		assert.False(t, ok, bad)
	}
}

// The OTA parsers, fed anything: no panic, and what they accept is
// within the bounds the reader relies on.
func FuzzParseFWInfo(f *testing.F) {
	f.Add(`+TCFWINFO:"2.0.0",1024,"0123456789abcdef0123456789abcdef",716800`)
	f.Add(`+TCFWINFO: "a",1,"0123456789ABCDEF0123456789ABCDEF"`)
	f.Add(`+TCFWINFO:"",,"",`)
	f.Fuzz(func(t *testing.T, line string) {
		fi, ok := parseFWInfo(line)
		if !ok {
			return
		}
		switch {
		case fi.Size <= 0, fi.Space < 0, fi.Space > 0 && fi.Size > fi.Space:
			t.Fatalf("size %d, space %d from %q", fi.Size, fi.Space, line)
		case fi.Version == "" || strings.Contains(fi.Version, `"`):
			t.Fatalf("version %q from %q", fi.Version, line)
		case len(fi.MD5) != 32 || strings.Trim(fi.MD5, "0123456789abcdef") != "":
			t.Fatalf("md5 %q from %q", fi.MD5, line)
		}
	})
}

func FuzzParseFWDataHeader(f *testing.F) {
	for _, s := range []string{"+TCREADFWDATA:4096,", "+TCREADFWDATA: 0,", "+TCREADFWDATA:99999999999999999999,", "+TCOTASTATUS:UPDATEFAIL,205"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		if n, ok := parseFWDataHeader(line, maxFWChunk); ok && (n < 0 || n > maxFWChunk) {
			t.Fatalf("length %d from %q", n, line)
		}
		if ev, ok := parseOTAStatus(line); ok && (ev.Kind < OTADownloading || ev.Kind > OTAFailed || ev.Kind != OTAFailed && ev.Code != 0) {
			t.Fatalf("event %+v from %q", ev, line)
		}
	})
}
