package at_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/drivers/at"
)

func TestFinalResults(t *testing.T) {
	vendor := at.Options{Finals: []at.Final{{Text: "SEND OK"}, {Text: "SEND FAIL", Fail: true}, {Text: "DATA ACCEPT:", Prefix: true}}}
	for _, tc := range []struct {
		name  string
		reply string
		lines []string
		final string
		check func(t *testing.T, err error)
	}{
		{name: "OK with lines", reply: "\r\n+CSQ: 20,99\r\n\r\nOK\r\n", lines: []string{"+CSQ: 20,99"}, final: "OK"},
		{name: "line containing ERROR is not an error", reply: "\r\n+CGMM: ERRORMAX 5\r\nNOT AN ERROR\r\nOK\r\n",
			lines: []string{"+CGMM: ERRORMAX 5", "NOT AN ERROR"}, final: "OK"},
		{name: "vendor success final", reply: "\r\nSEND OK\r\n", final: "SEND OK"},
		{name: "vendor prefix final", reply: "\r\nDATA ACCEPT:0,5\r\n", final: "DATA ACCEPT:0,5"},
		{name: "ERROR", reply: "\r\nERROR\r\n", check: func(t *testing.T, err error) {
			assert.ErrorIs(t, err, at.ErrError)
		}},
		{name: "CME numeric", reply: "\r\n+CME ERROR: 10\r\n", check: func(t *testing.T, err error) {
			var cme *at.CMEError
			require.ErrorAs(t, err, &cme)
			assert.Equal(t, 10, cme.Code)
			assert.NotErrorIs(t, err, at.ErrError)
		}},
		{name: "CME text", reply: "\r\n+CME ERROR: SIM not inserted\r\n", check: func(t *testing.T, err error) {
			var cme *at.CMEError
			require.ErrorAs(t, err, &cme)
			assert.Equal(t, -1, cme.Code)
			assert.Equal(t, "SIM not inserted", cme.Text)
		}},
		{name: "CMS numeric no space", reply: "\r\n+CMS ERROR:500\r\n", check: func(t *testing.T, err error) {
			var cms *at.CMSError
			require.ErrorAs(t, err, &cms)
			assert.Equal(t, 500, cms.Code)
		}},
		{name: "NO CARRIER", reply: "\r\nNO CARRIER\r\n", check: func(t *testing.T, err error) {
			assert.ErrorIs(t, err, at.ErrNoCarrier)
		}},
		{name: "vendor failure final", reply: "\r\nSEND FAIL\r\n", check: func(t *testing.T, err error) {
			var re *at.ResultError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, "SEND FAIL", re.Line)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, e := newEngine(t, vendor)
			ch := async(e, at.Command{Text: "AT+CSQ"})
			m.expect("AT+CSQ")
			m.send(tc.reply)
			r := wait(t, ch)
			if tc.check != nil {
				require.Error(t, r.err)
				var ce *at.CommandError
				require.ErrorAs(t, r.err, &ce)
				assert.Equal(t, "AT+CSQ", ce.Name)
				tc.check(t, r.err)
				return
			}
			require.NoError(t, r.err)
			assert.Equal(t, tc.lines, r.resp.Lines)
			assert.Equal(t, tc.final, r.resp.Final)
		})
	}
}

func TestEchoIsSkippedAndLineEndConfigurable(t *testing.T) {
	m, e := newEngine(t, at.Options{LineEnd: "\r\n"})
	ch := async(e, at.Command{Text: "AT+GMR"})
	got, err := m.ReadUntil([]byte("\r\n"), guard)
	require.NoError(t, err)
	assert.Equal(t, "AT+GMR\r\n", string(got))
	m.send("AT+GMR\r\r\nAT version:2.2.0\r\n\r\nOK\r\n")
	r := wait(t, ch)
	require.NoError(t, r.err)
	assert.Equal(t, []string{"AT version:2.2.0"}, r.resp.Lines)
}

func TestPrompts(t *testing.T) {
	payload := []byte("\r\nOK\r\n\x00\x1aERROR>@")
	for _, tc := range []struct {
		name, before, after string
		final               string
	}{
		{name: "bare >", before: "\r\n>", after: "\r\nSEND OK\r\n", final: "SEND OK"},
		{name: "> with space (Quectel, SIMCom)", before: "\r\n> ", after: "\r\nSEND OK\r\n", final: "SEND OK"},
		{name: "OK then > (ESP-AT)", before: "\r\nOK\r\n\r\n>", after: "\r\nRecv 14 bytes\r\n\r\nSEND OK\r\n", final: "SEND OK"},
		{name: "@ (u-blox)", before: "\r\n@", after: "\r\n+USOWR: 0,14\r\n\r\nOK\r\n", final: "OK"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, e := newEngine(t, at.Options{Finals: []at.Final{{Text: "SEND OK"}}})
			ch := async(e, at.Command{Text: "AT+QISEND=0,14", Payload: payload, PromptDelay: time.Millisecond})
			m.expect("AT+QISEND=0,14")
			m.send(tc.before)
			got, err := m.ReadUntil([]byte(">@"), guard)
			require.NoError(t, err)
			assert.Equal(t, payload, got)
			m.send(tc.after)
			r := wait(t, ch)
			require.NoError(t, r.err)
			assert.Equal(t, tc.final, r.resp.Final)
		})
	}
}

func TestPromptReplacedByError(t *testing.T) {
	m, e := newEngine(t, at.Options{})
	ch := async(e, at.Command{Text: "AT+CIPSEND=0,5", Payload: []byte("hello")})
	m.expect("AT+CIPSEND=0,5")
	m.send("\r\nERROR\r\n")
	r := wait(t, ch)
	assert.ErrorIs(t, r.err, at.ErrError)
	// The engine did not write the payload: the next thing the modem
	// reads is the next command.
	ch = async(e, at.Command{Text: "AT"})
	m.expect("AT")
	m.send("\r\nOK\r\n")
	require.NoError(t, wait(t, ch).err)
}

func TestURCs(t *testing.T) {
	m, e := newEngine(t, at.Options{})
	urcs := make(chan string, 16)
	for _, p := range []string{"+QIURC:", "RDY", "+CEREG:"} {
		require.NoError(t, e.HandleURC(at.URC{Prefix: p, Line: func(l string) int { urcs <- l; return 0 }}))
	}

	m.send("\r\nRDY\r\n")
	assert.Equal(t, "RDY", recv(t, urcs))

	// URCs inside a response, one split across writes, one right after
	// the final result.
	ch := async(e, at.Command{Text: "AT+CGMR"})
	m.expect("AT+CGMR")
	m.send("\r\nBG96MAR02A07M1G\r\n\r\n+QIU")
	m.send("RC: \"closed\",1\r\n\r\nREVISION 2\r\n+CEREG: 5\r\nOK\r\n+QIURC: \"recv\",0\r\n")
	r := wait(t, ch)
	require.NoError(t, r.err)
	assert.Equal(t, []string{"BG96MAR02A07M1G", "REVISION 2"}, r.resp.Lines)
	assert.Equal(t, `+QIURC: "closed",1`, recv(t, urcs))
	assert.Equal(t, "+CEREG: 5", recv(t, urcs))
	assert.Equal(t, `+QIURC: "recv",0`, recv(t, urcs))

	// The command's own response prefix wins over a URC registration.
	ch = async(e, at.Command{Text: "AT+CEREG?"})
	m.expect("AT+CEREG?")
	m.send("\r\n+CEREG: 2,1\r\n\r\nOK\r\n")
	r = wait(t, ch)
	require.NoError(t, r.err)
	assert.Equal(t, []string{"+CEREG: 2,1"}, r.resp.Lines)

	e.RemoveURC("RDY")
	ch = async(e, at.Command{Text: "AT"})
	m.expect("AT")
	m.send("\r\nRDY\r\nOK\r\n")
	r = wait(t, ch)
	require.NoError(t, r.err)
	assert.Equal(t, []string{"RDY"}, r.resp.Lines, "an unregistered line is an information line")
	assert.Empty(t, urcs)

	assert.Error(t, e.HandleURC(at.URC{Prefix: "", Line: func(string) int { return 0 }}))
	assert.Error(t, e.HandleURC(at.URC{Prefix: "X"}))
}

func TestConcurrentCallersAreSerialised(t *testing.T) {
	m, e := newEngine(t, at.Options{})
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := e.Do(context.Background(), at.Command{Text: fmt.Sprintf("AT+X%d?", i)})
			if err != nil {
				errs <- err
				return
			}
			if want := []string{fmt.Sprintf("+X%d: %d", i, i)}; !assert.Equal(t, want, r.Lines) {
				errs <- errors.New("wrong response")
			}
		}()
	}
	for range n {
		cmd, err := m.ReadCommand(guard)
		require.NoError(t, err)
		var i int
		_, err = fmt.Sscanf(cmd, "AT+X%d?", &i)
		require.NoError(t, err, "command %q", cmd)
		// Reply in two pieces; each caller must get its own answer.
		m.send(fmt.Sprintf("\r\n+X%d: ", i))
		m.send(fmt.Sprintf("%d\r\n\r\nOK\r\n", i))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
}

func TestTimeoutNamesTheCommandNotItsArguments(t *testing.T) {
	m, e := newEngine(t, at.Options{})
	ch := async(e, at.Command{Text: `AT+CWJAP="home","s3cret-pass"`, Timeout: 300 * time.Millisecond})
	m.expect(`AT+CWJAP="home","s3cret-pass"`)
	r := wait(t, ch)
	require.ErrorIs(t, r.err, at.ErrTimeout)
	assert.Contains(t, r.err.Error(), "AT+CWJAP")
	assert.NotContains(t, r.err.Error(), "s3cret")

	// The engine is still usable: the abandoned command's answer may still
	// come, so it resyncs before the next command. The late answer comes
	// while it waits for ATE1's: it ends that wait, and ATE1's own OK
	// comes before the sentinel's echo, which nothing before belongs to.
	ch = async(e, at.Command{Text: "AT+CGMR"})
	m.expect("ATE1")
	m.send("\r\nOK\r\n") // AT+CWJAP's, late
	sentinel, err := m.ReadCommand(guard)
	require.NoError(t, err)
	m.send("\r\nOK\r\n" + sentinel + "\r\r\nERROR\r\n") // ATE1's, then the sentinel's
	m.expect("AT+CGMR")
	m.send("AT+CGMR\r\r\nREV 1\r\n\r\nOK\r\n") // echo on since ATE1
	r = wait(t, ch)
	require.NoError(t, r.err)
	assert.Equal(t, []string{"REV 1"}, r.resp.Lines)
}

func TestContextCancelsCommand(t *testing.T) {
	m, e := newEngine(t, at.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan error, 1)
	go func() {
		_, err := e.Do(ctx, at.Command{Text: "AT+COPS=?"})
		ch <- err
	}()
	m.expect("AT+COPS=?")
	cancel()
	err := recv(t, ch)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "AT+COPS")
}

func TestCloseUnblocksPendingCommand(t *testing.T) {
	m, e := newEngine(t, at.Options{})
	ch := async(e, at.Command{Text: "AT+QIACT=1", Timeout: time.Hour})
	m.expect("AT+QIACT=1")
	require.NoError(t, e.Close())
	r := wait(t, ch)
	assert.ErrorIs(t, r.err, at.ErrClosed)
	recv(t, e.Done())
	assert.ErrorIs(t, e.Err(), at.ErrClosed)

	_, err := e.Run(context.Background(), "AT")
	assert.ErrorIs(t, err, at.ErrClosed)
	assert.NoError(t, e.Close(), "second Close")
}

func TestRejectsLineEndInCommand(t *testing.T) {
	_, e := newEngine(t, at.Options{})
	_, err := e.Run(context.Background(), "AT\r+CFUN=0")
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "line end"))
}

func TestModemHangupStopsEngine(t *testing.T) {
	m, e := newEngine(t, at.Options{})
	ch := async(e, at.Command{Text: "AT+CGATT=1", Timeout: time.Hour})
	m.expect("AT+CGATT=1")
	require.NoError(t, m.Hangup())
	r := wait(t, ch)
	require.ErrorIs(t, r.err, at.ErrClosed)
	assert.ErrorIs(t, r.err, io.EOF)
	recv(t, e.Done())
	assert.ErrorIs(t, e.Err(), io.EOF)
}

func TestDroppedLinesLoggedWithoutSecrets(t *testing.T) {
	var mu sync.Mutex
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	m, e := newEngine(t, at.Options{Logger: log})
	marks := make(chan string, 1)
	require.NoError(t, e.HandleURC(at.URC{Prefix: "+MARK", Line: func(l string) int { marks <- l; return 0 }}))
	m.send("AT+CWJAP=\"home\",\"s3cret-pass\"\r\r\nstray line\r\n+MARK\r\n")
	recv(t, marks)
	mu.Lock()
	defer mu.Unlock()
	assert.Contains(t, buf.String(), "AT+CWJAP")
	assert.Contains(t, buf.String(), "stray line")
	assert.NotContains(t, buf.String(), "s3cret")
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
