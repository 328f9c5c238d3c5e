package at

import (
	"strconv"
	"strings"
)

// Parsing of response and URC arguments. Modems differ in spacing ("+CSQ:
// 20,99" and "+CSQ:20,99"), so everything here accepts optional blanks.

// splitArgs returns the comma-separated arguments of line after its name:
// everything after the first ':' ("+QIOPEN: 0,566" → ["0","566"]), or after
// name when the line has no colon ("+IPD,0,5" with name "+IPD"). Commas
// inside double quotes do not split; surrounding quotes and blanks are
// removed from each argument.
func SplitArgs(line, name string) []string {
	rest, ok := strings.CutPrefix(line, name)
	if !ok {
		return nil
	}
	rest = strings.TrimLeft(rest, " \t")
	if r, ok := strings.CutPrefix(rest, ":"); ok {
		rest = r
	} else if r, ok := strings.CutPrefix(rest, ","); ok {
		rest = r
	}
	rest = strings.TrimSpace(rest)
	if rest == "" {
		return nil
	}
	var out []string
	var cur strings.Builder
	quoted := false
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		switch {
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return append(out, strings.TrimSpace(cur.String()))
}

// argInt returns argument i as an int.
func ArgInt(a []string, i int) (int, bool) {
	if i < 0 || i >= len(a) {
		return 0, false
	}
	n, err := strconv.Atoi(a[i])
	return n, err == nil
}

// quote makes s a quoted AT string argument. Modems define no escaping for
// '"' in most commands; callers validate user strings with [CheckArg]
// instead, and ESP-AT's backslash escapes are applied by espQuote.
func Quote(s string) string { return `"` + s + `"` }

// checkArg rejects strings that cannot be sent as a quoted AT argument.
func CheckArg(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// lenHeader parses the length of a header that announces raw data:
// "+QIRD: 5" (the first argument), "+CIPRECVDATA:5," and
// "+CIPRECVDATA,5:" (the first argument, up to ',' or ':'). It returns -1
// for a line that carries no valid length.
func LenHeader(line, name string, idx int) int {
	a := SplitArgs(line, name)
	if idx >= len(a) {
		return -1
	}
	s := strings.TrimRight(a[idx], ":,\"")
	if i := strings.IndexAny(s, ":,"); i >= 0 {
		s = s[:i]
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 || n > MaxRaw {
		return -1
	}
	return n
}
