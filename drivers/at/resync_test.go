package at_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/drivers/at"
)

// The test plays the module on the pty, byte by byte, to pin down which
// answer the engine takes for which command.

// While the module echoes, a final result that comes before the command's
// echo was sent before the module read the command: it is not the answer.
func TestFinalBeforeEchoIsNotTheAnswer(t *testing.T) {
	m, e := newEngine(t, at.Options{})
	go func() { _ = e.Resync(context.Background()) }()
	m.resync() // echo is on now, and stays on: nobody asked for ATE0
	require.Eventually(t, func() bool { return !e.OutOfStep() }, guard, time.Millisecond)

	ch := async(e, at.Command{Text: "AT+CPIN?"})
	m.expect("AT+CPIN?")
	m.send("\r\nOK\r\n" + "AT+CPIN?\r\r\n+CPIN: READY\r\n\r\nOK\r\n")
	r := wait(t, ch)
	require.NoError(t, r.err)
	assert.Equal(t, []string{"+CPIN: READY"}, r.resp.Lines)
	assert.True(t, e.OutOfStep(), "a stray final result marks the line out of step")
}

// A user who turned echo off gets it off again after a resync, and the
// restoring ATE0 is matched by its echo too.
func TestResyncRestoresEchoOff(t *testing.T) {
	m, e := newEngine(t, at.Options{})
	ch := async(e, at.Command{Text: "ATE0"})
	m.expect("ATE0")
	m.send("ATE0\r\r\nOK\r\n")
	require.NoError(t, wait(t, ch).err)

	ch = async(e, at.Command{Text: "AT+CSQ", Timeout: 200 * time.Millisecond})
	m.expect("AT+CSQ")
	assert.ErrorIs(t, wait(t, ch).err, at.ErrTimeout)
	assert.True(t, e.OutOfStep())

	ch = async(e, at.Command{Text: "AT+CGMM"})
	m.expect("ATE1")
	m.send("\r\n+CSQ: 9,99\r\n\r\nOK\r\n") // AT+CSQ's, late: ends the ATE1 wait
	sentinel, err := m.ReadCommand(guard)
	require.NoError(t, err)
	m.send("\r\nOK\r\n" + sentinel + "\r\r\nERROR\r\n") // ATE1's OK, then the sentinel
	m.expect("ATE0")
	m.send("\r\nOK\r\n" + "ATE0\r\r\nOK\r\n") // a stray OK before the echo is not ATE0's
	m.expect("AT+CGMM")
	m.send("\r\nBG96\r\n\r\nOK\r\n") // echo off again
	r := wait(t, ch)
	require.NoError(t, r.err)
	assert.Equal(t, []string{"BG96"}, r.resp.Lines)
}

// The echo of an earlier sentinel, arriving late, does not end the
// exchange: only the echo of the current one does.
func TestLateSentinelEchoIsNotTaken(t *testing.T) {
	m, e := newEngine(t, at.Options{})
	done := make(chan error, 1)
	go func() { done <- e.Resync(context.Background()) }()
	m.expect("ATE1")
	m.send("\r\nOK\r\n")
	first, err := m.ReadCommand(guard)
	require.NoError(t, err)
	// The module stalls: no echo, no answer; the engine tries again.
	m.expect("ATE1")
	m.send(first + "\r\r\nERROR\r\n") // the first sentinel's, late: ends the ATE1 wait
	second, err := m.ReadCommand(guard)
	require.NoError(t, err)
	require.NotEqual(t, first, second, "every sentinel is new")
	m.send("\r\nOK\r\n" + first + "\r\r\nERROR\r\n" + second + "\r\r\nERROR\r\n")
	require.NoError(t, recv(t, done))

	ch := async(e, at.Command{Text: "AT+CGMR"})
	m.expect("AT+CGMR")
	m.send("AT+CGMR\r\r\nREV 2\r\n\r\nOK\r\n")
	r := wait(t, ch)
	require.NoError(t, r.err, "the second sentinel's ERROR went to the sentinel, not to AT+CGMR")
	assert.Equal(t, []string{"REV 2"}, r.resp.Lines)
}

// A module that answers nothing fails the command with a message that says
// what to check, and the next command tries the resync again.
func TestResyncNoAnswer(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the resync's tries")
	}
	m, e := newEngine(t, at.Options{})
	ch := async(e, at.Command{Text: "AT+CSQ", Timeout: 100 * time.Millisecond})
	m.expect("AT+CSQ")
	require.ErrorIs(t, wait(t, ch).err, at.ErrTimeout)
	_, err := e.Do(context.Background(), at.Command{Text: "AT+CGMM"})
	require.ErrorIs(t, err, at.ErrTimeout)
	assert.Contains(t, err.Error(), "resync")
	assert.Contains(t, err.Error(), "check that it is powered")
	assert.True(t, e.OutOfStep())

	for { // the unanswered tries' lines
		cmd, err := m.ReadCommand(100 * time.Millisecond)
		if err != nil {
			break
		}
		require.Equal(t, "ATE1", cmd, "a try that got no answer to ATE1 sends nothing more")
	}
	ch = async(e, at.Command{Text: "AT+CGMM"})
	m.expect("ATE1")
	m.send("\r\nOK\r\n")
	sentinel, err := m.ReadCommand(guard)
	require.NoError(t, err)
	m.send(sentinel + "\r\r\nERROR\r\n")
	m.expect("AT+CGMM")
	m.send("AT+CGMM\r\r\nBG96\r\n\r\nOK\r\n")
	r := wait(t, ch)
	require.NoError(t, r.err)
	assert.Equal(t, []string{"BG96"}, r.resp.Lines)
}
