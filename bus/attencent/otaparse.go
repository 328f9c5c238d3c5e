package attencent

import (
	"strconv"
	"strings"
)

// Parsers of the module's OTA output (tencent.md §3 "OTA", §4). Like the
// others they accept a space after the colon.

// FirmwareInfo is AT+TCFWINFO?'s answer: the image in the module's flash.
type FirmwareInfo struct {
	Version string
	Size    int
	// MD5 is the image's MD5 as the hub sent it, 32 lowercase hex digits.
	MD5 string
	// Space is the module's OTA space in bytes (716800 on the ESP8266);
	// 0 when the firmware does not say.
	Space int
}

// maxFWChunk is AT+TCREADFWDATA's largest <len>.
const maxFWChunk = 4096

// parseFWInfo reads `+TCFWINFO:"<version>",<size>,"<md5>"[,<space>]`. A
// size of 0, or one over the space the module says it has, is refused:
// such an answer cannot describe an image worth reading.
func parseFWInfo(line string) (FirmwareInfo, bool) {
	var fi FirmwareInfo
	rest, ok := strings.CutPrefix(line, "+TCFWINFO:")
	if !ok {
		return fi, false
	}
	rest, ok = strings.CutPrefix(strings.TrimSpace(rest), `"`)
	if !ok {
		return fi, false
	}
	fi.Version, rest, ok = strings.Cut(rest, `",`)
	if !ok || fi.Version == "" || strings.Contains(fi.Version, `"`) {
		return fi, false
	}
	size, rest, _ := strings.Cut(rest, ",")
	n, err := strconv.Atoi(strings.TrimSpace(size))
	if err != nil || n <= 0 {
		return fi, false
	}
	fi.Size = n
	md5, space, hasSpace := strings.Cut(rest, ",")
	md5, ok = strings.CutPrefix(strings.TrimSpace(md5), `"`)
	if !ok {
		return fi, false
	}
	md5, ok = strings.CutSuffix(md5, `"`)
	fi.MD5 = strings.ToLower(md5)
	if !ok || len(fi.MD5) != 32 || strings.Trim(fi.MD5, "0123456789abcdef") != "" {
		return fi, false
	}
	if hasSpace {
		s, err := strconv.Atoi(strings.TrimSpace(space))
		if err != nil || s < 0 || (s > 0 && fi.Size > s) {
			return fi, false
		}
		fi.Space = s
	}
	return fi, true
}

// fwDataPrefix starts AT+TCREADFWDATA's answer; the engine ends its line
// at the comma, after which the raw bytes follow.
const fwDataPrefix = "+TCREADFWDATA:"

// parseFWDataHeader reads `+TCREADFWDATA:<n>,`: how many raw bytes follow,
// at most limit.
func parseFWDataHeader(line string, limit int) (int, bool) {
	rest, ok := strings.CutPrefix(line, fwDataPrefix)
	if !ok {
		return 0, false
	}
	return countBefore(rest, ",", limit)
}

// parseOTAStatus reads +TCOTASTATUS:ENTERUPDATE, UPDATESUCCESS or
// UPDATEFAIL,<code>.
func parseOTAStatus(line string) (OTAEvent, bool) {
	rest, ok := strings.CutPrefix(line, "+TCOTASTATUS:")
	if !ok {
		return OTAEvent{}, false
	}
	switch rest = strings.TrimSpace(rest); rest {
	case "ENTERUPDATE":
		return OTAEvent{Kind: OTADownloading}, true
	case "UPDATESUCCESS":
		return OTAEvent{Kind: OTADownloaded}, true
	}
	code, ok := strings.CutPrefix(rest, "UPDATEFAIL")
	if !ok {
		return OTAEvent{}, false
	}
	ev := OTAEvent{Kind: OTAFailed}
	if code == "" {
		return ev, true
	}
	code, ok = strings.CutPrefix(code, ",")
	if !ok {
		return OTAEvent{}, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(code))
	if err != nil {
		return OTAEvent{}, false
	}
	ev.Code = n
	return ev, true
}
