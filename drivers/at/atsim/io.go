package atsim

import (
	"bytes"
	"errors"
	"os"
	"time"
)

// unit is one indivisible piece of output: a framed line, a header with its
// data, a prompt.
type unit []byte

// line frames s as a verbose response line: CR LF s CR LF.
func line(s string) unit { return unit("\r\n" + s + "\r\n") }

// reply is what a command handler answers.
type reply struct {
	units []unit // information lines and data blocks
	final string // final result line; "" for none (prompt or lost)
	// prompt, when set, is written after units and puts the module in
	// data mode (data).
	prompt string
	data   *dataMode
	// after runs with m.mu held once the reply is queued (URCs that must
	// follow the final result).
	after func()
	// more: the command has no final result of its own (SIM800
	// AT+CIFSR) and the rest of a chained line still runs.
	more bool
}

func ok(lines ...string) reply {
	r := reply{final: "OK"}
	for _, l := range lines {
		r.units = append(r.units, line(l))
	}
	return r
}

func errorReply() reply { return reply{final: "ERROR"} }

// emitLocked queues output.
func (m *Modem) emitLocked(b []byte) {
	if len(b) == 0 || m.closed {
		return
	}
	if len(m.out) == 0 {
		m.outSince = time.Now()
	}
	m.out = append(m.out, b)
	m.outLen += len(b)
	select {
	case m.outCh <- struct{}{}:
	default:
	}
}

// urcLocked sends an unsolicited line.
func (m *Modem) urcLocked(s string) { m.emitLocked(line(s)) }

// noiseURC is the line URCInResponse inserts.
func (m *Modem) noiseURC() unit {
	if m.fault.urcText != "" {
		return line(m.fault.urcText)
	}
	return line(m.d.noise())
}

// respondLocked queues a reply, applying the response faults.
func (m *Modem) respondLocked(r reply) {
	units := r.units
	if r.final != "" {
		units = append(units, line(r.final))
	}
	if m.fault.urc && len(units) >= 2 {
		// between the last information line and the final result
		k := len(units) - 1
		units = append(units[:k:k], m.noiseURC(), units[k])
	}
	for _, u := range units {
		m.emitLocked(u)
	}
	if r.prompt != "" {
		if m.fault.urc {
			m.emitLocked(m.noiseURC())
		}
		m.emitLocked([]byte(r.prompt))
		m.data = r.data
		m.promptAt = time.Now()
		if m.data.guard.IsZero() && m.d.promptGuard() > 0 {
			m.data.guard = m.promptAt.Add(m.d.promptGuard())
		}
	}
	if r.final != "" && m.fault.garbage {
		m.emitLocked(m.garbageLine())
	}
	if r.after != nil {
		r.after()
	}
}

// readLoop takes input from the pty master. Throttled, each byte is taken
// when the line has carried it: a line that is busy carries bytes back to
// back, so the time a byte is taken follows from the line's own clock (the
// end of the byte before it, or the byte's arrival when the line was idle),
// never from when this goroutine woke from its last pause, which would add
// the timer's lateness to every read and run the line slower than its baud.
func (m *Modem) readLoop() {
	defer m.wg.Done()
	if m.cfg.Baud <= 0 {
		buf := make([]byte, 1024)
		for {
			n, err := m.master.Read(buf)
			if n > 0 {
				m.takeInput(buf[:n], time.Now())
			}
			if err != nil {
				m.readFailed(err)
				return
			}
		}
	}
	ch := make(chan inChunk, 4)
	m.wg.Add(1)
	go m.lineIn(ch, max(1, min(64, m.cfg.Baud/10/100)))
	var next time.Time
	for c := range ch {
		start := lineStart(next, c.at)
		next = start.Add(byteTime(len(c.b), m.cfg.Baud))
		if !m.sleepUntil(next) {
			return
		}
		m.takeInput(c.b, start)
	}
}

// inChunk is input read from the pty and when it was read.
type inChunk struct {
	b  []byte
	at time.Time
}

// lineIn reads the pty master as the host writes, stamping each read, for
// readLoop to pace; it closes ch when the pty fails. It reads at most four
// chunks ahead of the pacing, so a host that writes faster than the line
// still blocks in its write once the pty's buffer is full, as on a UART.
func (m *Modem) lineIn(ch chan<- inChunk, size int) {
	defer m.wg.Done()
	defer close(ch)
	for {
		buf := make([]byte, size)
		n, err := m.master.Read(buf)
		if n > 0 {
			select {
			case ch <- inChunk{b: buf[:n], at: time.Now()}:
			case <-m.ctx.Done():
				return
			}
		}
		if err != nil {
			m.readFailed(err)
			return
		}
	}
}

// takeInput interprets p, whose first byte started on the line at start.
func (m *Modem) takeInput(p []byte, start time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stats.BytesIn += int64(len(p))
	if time.Now().Before(m.stallUntil) {
		m.line = m.line[:0]
		return
	}
	m.inAt = start
	m.inputLocked(p)
}

// readFailed handles a read error of the pty master.
func (m *Modem) readFailed(err error) {
	if !errors.Is(err, os.ErrClosed) && m.ctx.Err() == nil {
		m.log.Debug("atsim: read", "err", err)
		// EIO cannot happen while we hold the slave; anything else is
		// fatal to the modem.
		m.cancel()
	}
}

// lineStart is when bytes that became ready at ready start on a line whose
// previous byte ends at next: at once if the line is idle, else right
// after that byte.
func lineStart(next, ready time.Time) time.Time {
	if next.After(ready) {
		return next
	}
	return ready
}

// byteTime is how long n bytes take at baud, 10 bits a byte (8N1).
func byteTime(n, baud int) time.Duration {
	return time.Duration(n) * 10 * time.Second / time.Duration(baud)
}

// sleepUntil sleeps until t or until the modem stops (false).
func (m *Modem) sleepUntil(t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return m.ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-m.ctx.Done():
		return false
	}
}

// writeLoop sends queued output to the pty master.
func (m *Modem) writeLoop() {
	defer m.wg.Done()
	var next time.Time
	for {
		select {
		case <-m.outCh:
		case <-m.ctx.Done():
			return
		}
		for {
			m.mu.Lock()
			if m.closed {
				m.mu.Unlock()
				return
			}
			stall := m.stallUntil
			if time.Now().Before(stall) {
				m.mu.Unlock()
				if !m.sleepUntil(stall) {
					return
				}
				continue
			}
			if len(m.out) == 0 {
				m.mu.Unlock()
				break
			}
			b := m.out[0]
			m.out = m.out[1:]
			m.outLen -= len(b)
			// Output queued behind other output goes back to back with
			// it; the first of a queue waits for nothing before it.
			ready := m.outSince
			m.outSince = time.Time{}
			var pieces [][]byte
			var pauses []time.Duration
			if m.fault.fragment {
				for len(b) > 0 {
					k := min(len(b), 1+m.rng.IntN(8))
					pieces = append(pieces, b[:k])
					pauses = append(pauses, time.Duration(m.rng.IntN(2000))*time.Microsecond)
					b = b[k:]
				}
			} else {
				pieces = [][]byte{b}
			}
			m.cond.Broadcast()
			m.mu.Unlock()
			for i, p := range pieces {
				if i > 0 && i-1 < len(pauses) {
					if !m.sleepUntil(time.Now().Add(pauses[i-1])) {
						return
					}
					ready = time.Now()
				}
				if !m.writeOut(p, &next, ready) {
					return
				}
			}
		}
	}
}

// writeOut writes p, paced when throttled: p becomes ready at ready (zero:
// when the line has carried what was queued before it) and each chunk
// goes to the host when the line has carried it; false when the modem
// stopped.
func (m *Modem) writeOut(p []byte, next *time.Time, ready time.Time) bool {
	chunk := len(p)
	if m.cfg.Baud > 0 {
		chunk = max(1, m.cfg.Baud/10/100) // 10 ms of line time
	}
	for len(p) > 0 {
		k := min(chunk, len(p))
		if m.cfg.Baud > 0 {
			*next = lineStart(*next, ready).Add(byteTime(k, m.cfg.Baud))
			ready = time.Time{} // the rest of p follows back to back
			if !m.sleepUntil(*next) {
				return false
			}
		}
		n, err := m.master.Write(p[:k])
		m.mu.Lock()
		m.stats.BytesOut += int64(n)
		m.stats.Writes++
		m.mu.Unlock()
		if err != nil {
			if m.ctx.Err() == nil {
				m.log.Debug("atsim: write", "err", err)
			}
			return false
		}
		p = p[k:]
	}
	return true
}

// inputLocked interprets bytes from the host.
func (m *Modem) inputLocked(p []byte) {
	var echo []byte
	flushEcho := func() {
		if len(echo) > 0 && m.echo {
			m.emitLocked(echo)
		}
		echo = nil
	}
	for i := 0; i < len(p); i++ {
		if m.data != nil {
			i += m.dataInputLocked(p[i:]) - 1
			continue
		}
		c := p[i]
		echo = append(echo, c)
		switch c {
		case '\r':
			if i+1 < len(p) && p[i+1] == '\n' {
				// CR LF: the LF belongs to the line end, not to data
				// that may follow a prompt.
				echo = append(echo, '\n')
				i++
			}
			flushEcho()
			l := string(m.line)
			m.line = m.line[:0]
			m.execLocked(l)
		case '\n':
			// ignored (S4); ESP-AT's CR LF has its LF eaten above
		case 0x08, 0x7f: // backspace
			if len(m.line) > 0 {
				m.line = m.line[:len(m.line)-1]
			}
		default:
			if len(m.line) < maxLineLen+1 {
				m.line = append(m.line, c)
			}
		}
	}
	flushEcho()
}

// dataInputLocked feeds bytes to data mode and returns how many it took.
func (m *Modem) dataInputLocked(p []byte) int {
	dm := m.data
	at := m.inAt
	if at.IsZero() {
		at = time.Now()
	}
	if !dm.guard.IsZero() && at.Before(dm.guard) {
		m.stats.EarlyData += len(p)
		m.log.Debug("atsim: data before the prompt's guard time dropped", "bytes", len(p))
		return len(p)
	}
	if dm.need >= 0 {
		k := min(dm.need-len(dm.buf), len(p))
		dm.buf = append(dm.buf, p[:k]...)
		if len(dm.buf) == dm.need {
			m.data = nil
			m.respondLocked(dm.done(dm.buf))
		}
		return k
	}
	for i, c := range p {
		switch c {
		case 0x1a: // Ctrl-Z: send
			m.data = nil
			m.respondLocked(dm.done(dm.buf))
			return i + 1
		case 0x1b: // ESC: cancel
			m.data = nil
			m.respondLocked(dm.done(nil))
			return i + 1
		}
		if len(dm.buf) < dm.max {
			dm.buf = append(dm.buf, c)
		}
	}
	return len(p)
}

// execLocked runs one command line.
func (m *Modem) execLocked(l string) {
	if len(bytes.TrimSpace([]byte(l))) == 0 {
		return
	}
	m.stats.Commands++
	if len(m.cmdLog) >= maxCmdLog {
		m.cmdLog = m.cmdLog[1:]
	}
	m.cmdLog = append(m.cmdLog, l)
	cmds, err := parseLine(l, m.d.escapes())
	if errors.Is(err, errNoAT) {
		if m.answersNonAT() {
			m.respondLocked(errorReply())
		}
		return
	}
	if err != nil {
		m.respondLocked(m.syntaxErrorLocked())
		return
	}
	if m.takeRebootMid(l) {
		m.rebootLocked()
		return
	}
	var all reply
	for i := range cmds {
		c := &cmds[i]
		if m.stats.ByName == nil {
			m.stats.ByName = map[string]int{}
		}
		m.stats.ByName["AT"+c.name]++
		gen := m.gen
		r := m.handleLocked(c)
		if gen != m.gen || m.closed {
			return // rebooted by the command (AT+CFUN=1,1) or stopped
		}
		all.units = append(all.units, r.units...)
		all.final, all.prompt, all.data, all.after = r.final, r.prompt, r.data, r.after
		if (r.final != "OK" && !r.more) || r.prompt != "" {
			break
		}
	}
	if all.final == "" && all.prompt == "" && all.after == nil && len(all.units) == 0 {
		return // lost
	}
	m.respondLocked(all)
}

// maxCmdLog is how many command lines Commands keeps.
const maxCmdLog = 4096

// handleLocked runs one command of a line.
func (m *Modem) handleLocked(c *command) reply {
	if h, ok := m.d.handler(c.name); ok {
		return h(c)
	}
	if h, ok := m.commonHandler(c.name); ok {
		return h(c)
	}
	return m.unknownLocked()
}
