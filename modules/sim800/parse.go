package sim800

import (
	"strconv"
	"strings"

	"github.com/iotd/iotd/drivers/at"
)

// Parsers of the SIM800's multi-IP lines. They run on the engine's reader
// goroutine (URC handlers, Await, Raw), so they take any line the module,
// a noisy UART or a fuzzer sends and report ok only for a well-formed one.

// links is the number of connection numbers in multi-IP mode (0..5).
const links = 6

// linkResult parses a multi-IP result "<n>, <text>" ("0, CONNECT OK",
// "3, CLOSED"). The manual prints no space after the comma, real modules
// do (testdata/sim800.md §9.1); both are accepted.
func linkResult(line string) (id int, text string, ok bool) {
	num, rest, found := strings.Cut(line, ",")
	if !found || len(num) != 1 || num[0] < '0' || num[0] >= '0'+links {
		return 0, "", false
	}
	text = strings.TrimPrefix(rest, " ")
	if text == "" {
		return 0, "", false
	}
	return int(num[0] - '0'), text, true
}

// rxHeader parses the header of an AT+CIPRXGET=2 read,
// "+CIPRXGET: 2,<n>,<got>,<left>": got bytes follow the line, left stay
// buffered. The third field is what follows and the fourth what remains,
// as real modules answer (TinyGSM; the manual names them otherwise,
// testdata/sim800.md §9.2). got is bounded by the engine's raw limit.
func rxHeader(line string) (id, got, left int, ok bool) {
	if !strings.HasPrefix(line, "+CIPRXGET") {
		return 0, 0, 0, false
	}
	a := at.SplitArgs(line, "+CIPRXGET")
	if len(a) != 4 || a[0] != "2" {
		return 0, 0, 0, false
	}
	id, ok1 := at.ArgInt(a, 1)
	left, ok2 := at.ArgInt(a, 3)
	got = at.LenHeader(line, "+CIPRXGET", 2)
	if !ok1 || !ok2 || got < 0 || left < 0 || id < 0 || id >= links {
		return 0, 0, 0, false
	}
	return id, got, left, true
}

// receiveHeader parses the push-mode header "+RECEIVE,<n>,<len>:", which
// a module left in push mode (AT+CIPRXGET=0) sends before the data.
func receiveHeader(line string) (id, n int, ok bool) {
	a := at.SplitArgs(line, "+RECEIVE")
	if len(a) != 2 || !strings.HasSuffix(line, ":") {
		return 0, 0, false
	}
	id, ok = at.ArgInt(a, 0)
	n = at.LenHeader(line, "+RECEIVE", 1)
	if !ok || n < 0 || id < 0 || id >= links {
		return 0, 0, false
	}
	return id, n, true
}

// statusState returns the <client state> of "+CIPSTATUS: <n>,<bearer>,
// "<TCP/UDP>","<ip>","<port>","<state>"" (AT+CIPSTATUS=<n>) for number id.
func statusState(line string, id int) (string, bool) {
	a := at.SplitArgs(line, "+CIPSTATUS")
	if len(a) != 6 || a[0] != strconv.Itoa(id) {
		return "", false
	}
	return a[5], true
}
