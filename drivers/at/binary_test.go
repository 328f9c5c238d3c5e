package at_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/drivers/at"
)

// nasty is socket data that a line-based reader would break.
var nasty = []byte("\r\nOK\r\n\x00\x1a+CME ERROR: 3\r\nERROR\r\n>@\xff")

func allBytes() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// lenAfter parses the last comma- or space-separated number of a header.
func lenAfter(line string) int {
	i := strings.LastIndexAny(line, ", ")
	n, err := strconv.Atoi(strings.TrimSuffix(line[i+1:], ":"))
	if err != nil {
		return 0
	}
	return n
}

func TestCommandRawRead(t *testing.T) {
	for name, data := range map[string][]byte{"nasty": nasty, "all 256 byte values": allBytes()} {
		t.Run(name, func(t *testing.T) {
			m, e := newEngine(t, at.Options{})
			ch := async(e, at.Command{Text: "AT+QIRD=0,1500", Raw: func(l string) int {
				if strings.HasPrefix(l, "+QIRD:") {
					return lenAfter(l)
				}
				return 0
			}})
			m.expect("AT+QIRD=0,1500")
			m.send(fmt.Sprintf("\r\n+QIRD: %d\r\n", len(data)))
			m.send(string(data[:7])) // split inside the data
			m.send(string(data[7:]) + "\r\n\r\nOK\r\n")
			r := wait(t, ch)
			require.NoError(t, r.err)
			assert.Equal(t, data, r.resp.Data)
			assert.Equal(t, []string{fmt.Sprintf("+QIRD: %d", len(data))}, r.resp.Lines)
			assert.Equal(t, "OK", r.resp.Final)
		})
	}
}

func TestURCRawReadWithHeaderEnd(t *testing.T) {
	m, e := newEngine(t, at.Options{})
	type ipd struct {
		line string
		data []byte
	}
	got := make(chan ipd, 4)
	require.NoError(t, e.HandleURC(at.URC{
		Prefix:    "+IPD,",
		HeaderEnd: ':',
		Line:      lenAfter,
		Data:      func(l string, d []byte) { got <- ipd{l, d} },
	}))

	// ESP-AT push data arrives inside a command's response, with no line
	// end after the header or after the data.
	ch := async(e, at.Command{Text: "AT+CIPSTATUS"})
	m.expect("AT+CIPSTATUS")
	m.send("\r\nSTATUS:3\r\n")
	m.send(fmt.Sprintf("+IPD,0,%d:%s", len(nasty), nasty))
	m.send(fmt.Sprintf("+IPD,1,256:%s\r\n+CIPSTATUS:0,\"TCP\"\r\n\r\nOK\r\n", allBytes()))
	r := wait(t, ch)
	require.NoError(t, r.err)
	assert.Equal(t, []string{"STATUS:3", `+CIPSTATUS:0,"TCP"`}, r.resp.Lines)
	assert.Equal(t, ipd{fmt.Sprintf("+IPD,0,%d:", len(nasty)), nasty}, recv(t, got))
	assert.Equal(t, ipd{"+IPD,1,256:", allBytes()}, recv(t, got))
}

func TestTwoPhaseCommand(t *testing.T) {
	m, e := newEngine(t, at.Options{})
	urcs := make(chan string, 4)
	require.NoError(t, e.HandleURC(at.URC{Prefix: "+QIOPEN:", Line: func(l string) int { urcs <- l; return 0 }}))
	open := func(id int) at.Command {
		return at.Command{
			Text:         fmt.Sprintf(`AT+QIOPEN=1,%d,"TCP","10.0.0.1",8883,0,0`, id),
			Await:        func(l string) bool { return strings.HasPrefix(l, fmt.Sprintf("+QIOPEN: %d,", id)) },
			AwaitTimeout: guard,
		}
	}

	// OK now; another command runs while the result is outstanding.
	ch := async(e, open(0))
	m.expect(`AT+QIOPEN=1,0,"TCP","10.0.0.1",8883,0,0`)
	m.send("\r\nOK\r\n")
	other := async(e, at.Command{Text: "AT+CSQ"})
	m.expect("AT+CSQ")
	m.send("\r\n+CSQ: 17,99\r\n+QIOPEN: 5,0\r\n+QIOPEN: 0,0\r\n\r\nOK\r\n")
	r := wait(t, other)
	require.NoError(t, r.err)
	assert.Equal(t, []string{"+CSQ: 17,99"}, r.resp.Lines)
	r = wait(t, ch)
	require.NoError(t, r.err)
	assert.Equal(t, "OK", r.resp.Final)
	assert.Equal(t, "+QIOPEN: 0,0", r.resp.Result)
	assert.Equal(t, "+QIOPEN: 5,0", recv(t, urcs), "a result nobody awaits goes to the URC handler")

	// The result before the OK.
	ch = async(e, open(1))
	m.expect(`AT+QIOPEN=1,1,"TCP","10.0.0.1",8883,0,0`)
	m.send("\r\n+QIOPEN: 1,566\r\nOK\r\n")
	r = wait(t, ch)
	require.NoError(t, r.err)
	assert.Equal(t, "+QIOPEN: 1,566", r.resp.Result)

	// No result in time.
	c := open(2)
	c.AwaitTimeout = 200 * time.Millisecond
	ch = async(e, c)
	m.expect(`AT+QIOPEN=1,2,"TCP","10.0.0.1",8883,0,0`)
	m.send("\r\nOK\r\n")
	r = wait(t, ch)
	require.ErrorIs(t, r.err, at.ErrTimeout)
	assert.Contains(t, r.err.Error(), "AT+QIOPEN")
	assert.NotContains(t, r.err.Error(), "10.0.0.1")

	// An error final ends it at once.
	ch = async(e, open(3))
	m.expect(`AT+QIOPEN=1,3,"TCP","10.0.0.1",8883,0,0`)
	m.send("\r\n+CME ERROR: 563\r\n")
	r = wait(t, ch)
	var cme *at.CMEError
	require.ErrorAs(t, r.err, &cme)
	assert.Equal(t, 563, cme.Code)
}

func TestGarbageOnTheLine(t *testing.T) {
	m, e := newEngine(t, at.Options{})
	marks := make(chan string, 4)
	require.NoError(t, e.HandleURC(at.URC{Prefix: "+MARK", Line: func(l string) int { marks <- l; return 0 }}))

	// Stale finals and noise with no command pending are dropped; the
	// mark URC proves the engine has read past them.
	m.send("\r\nOK\r\n\x00\x00\xff\xfe\rERROR\r\r\n+CME ERROR: 1\r\n+MARK 1\r\n")
	assert.Equal(t, "+MARK 1", recv(t, marks))

	// Finals nobody waited for put the line out of step: the next command
	// resyncs first.
	ch := async(e, at.Command{Text: "AT+CSQ"})
	m.resync()
	m.expect("AT+CSQ")
	m.send("AT+CSQ\r\xc3\x28 noise\r\r\r\n\n\x00+CSQ: 9,99\r\n+CME\r\nOK\r\n")
	r := wait(t, ch)
	require.NoError(t, r.err)
	assert.Equal(t, []string{"\xc3\x28 noise", "+CSQ: 9,99", "+CME"}, r.resp.Lines)

	// A runaway line without a line end does not grow without bound and
	// does not complete anything.
	ch = async(e, at.Command{Text: "AT"})
	m.expect("AT")
	m.send("AT\r" + strings.Repeat("x", 3*at.MaxLine+5) + "\r\nOK\r\n")
	r = wait(t, ch)
	require.NoError(t, r.err)
	require.Len(t, r.resp.Lines, 4)
	for _, l := range r.resp.Lines {
		assert.LessOrEqual(t, len(l), at.MaxLine)
	}
}
