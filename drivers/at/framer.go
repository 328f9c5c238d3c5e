package at

import "bytes"

// Limits of the framer.
const (
	// MaxLine is the longest line kept; longer lines are cut into pieces
	// of this size (a runaway line must not grow memory without bound).
	MaxLine = 4096
	// MaxRaw is the largest raw read a handler may ask for.
	MaxRaw = 1 << 20
	// NULRun is how many NUL bytes in a row, at the start of a line, make
	// [Options.OnNULs] fire: a lone NUL in line noise does not.
	NULRun = 3
)

// framer turns a byte stream into lines, prompts and raw blocks. It has no
// locks and no goroutines: the engine's reader goroutine drives it, and the
// fuzz target drives it directly.
type framer struct {
	// line is called with each complete line (trimmed of spaces, never
	// empty, never containing CR, LF or NUL). It may call raw to claim
	// the bytes that follow.
	line func(l string)
	// wantPrompt reports whether a prompt is awaited now.
	wantPrompt func() bool
	// prompt is called when a prompt byte ('>' or '@') starts a line
	// while wantPrompt is true.
	prompt func(c byte)
	// headerEnd reports whether the partial line l is a complete header
	// (a URC whose data follows without a line end, like "+IPD,0,5:").
	headerEnd func(l []byte) bool
	// nuls, when set, is called when NULRun NUL bytes arrive in a row at
	// the start of a line (what a SARA-R4 sends after a reboot).
	nuls func()

	nulRun int

	buf     []byte
	rawLeft int
	rawBuf  []byte
	rawDone func([]byte)
	// skipLF drops one LF before raw data: the header line ended with CR
	// and its LF is part of the line end, not of the data.
	skipLF bool
	endCR  bool // the line being flushed ended with CR
}

// raw makes the next n bytes raw data handed to done in one slice. It is
// only valid from inside the line callback; n outside 1..MaxRaw is ignored.
func (f *framer) raw(n int, done func([]byte)) bool {
	if n <= 0 || n > MaxRaw || f.rawLeft > 0 {
		return false
	}
	f.rawLeft, f.rawBuf, f.rawDone = n, make([]byte, 0, n), done
	f.skipLF = f.endCR
	return true
}

func (f *framer) feed(p []byte) {
	for len(p) > 0 {
		if f.rawLeft > 0 {
			if f.skipLF {
				f.skipLF = false
				if p[0] == '\n' {
					p = p[1:]
					continue
				}
			}
			k := min(f.rawLeft, len(p))
			f.rawBuf = append(f.rawBuf, p[:k]...)
			f.rawLeft -= k
			p = p[k:]
			if f.rawLeft == 0 {
				b, done := f.rawBuf, f.rawDone
				f.rawBuf, f.rawDone = nil, nil
				done(b)
			}
			continue
		}
		c := p[0]
		p = p[1:]
		if c != 0 {
			f.nulRun = 0
		}
		switch {
		case c == '\r' || c == '\n':
			f.endCR = c == '\r'
			f.flush()
			f.endCR = false
		case c == 0:
			// SARA-R4 emits NULs after a reboot; they carry nothing
			// but the news of the reboot.
			if len(f.buf) == 0 {
				f.nulRun++
				if f.nulRun == NULRun && f.nuls != nil {
					f.nuls()
				}
			}
		case (c == '>' || c == '@') && len(bytes.TrimSpace(f.buf)) == 0 && f.wantPrompt():
			f.buf = f.buf[:0]
			f.prompt(c)
		default:
			f.buf = append(f.buf, c)
			if len(f.buf) >= MaxLine {
				f.flush()
			} else if f.headerEnd != nil && f.headerEnd(f.buf) {
				f.flush()
			}
		}
	}
}

func (f *framer) flush() {
	l := bytes.TrimSpace(f.buf)
	if len(l) > 0 {
		s := string(l)
		f.buf = f.buf[:0]
		f.line(s)
		return
	}
	f.buf = f.buf[:0]
}
