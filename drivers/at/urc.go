package at

import (
	"bytes"
	"errors"
	"sort"
	"strings"
)

// URC is the registration of one unsolicited result code.
type URC struct {
	// Prefix selects the lines this URC handles ("+QIURC:", "RDY",
	// "+IPD,"). The longest matching prefix wins.
	Prefix string
	// HeaderEnd, when non-zero, ends the URC's line at this byte instead
	// of at CR/LF: ESP-AT's "+IPD,0,5:" is followed by the data at once.
	// The byte stays in the line passed to Line.
	HeaderEnd byte
	// Line is called on the engine's reader goroutine with the line
	// (trimmed, without line end). It returns how many raw bytes follow
	// the line (0 for none; the CR LF ending the line is not counted);
	// those bytes are then passed to Data. Line
	// must not block and must not call Do (the engine would deadlock); hand
	// work to another goroutine instead.
	Line func(line string) (raw int)
	// Data receives the raw bytes Line asked for, on the reader goroutine,
	// in a slice it may keep. It may be nil when Line never asks for any.
	Data func(line string, data []byte)
}

// HandleURC registers u, replacing any registration with the same prefix.
// It may be called at any time, also from a URC handler.
func (e *Engine) HandleURC(u URC) error {
	if u.Prefix == "" || u.Line == nil {
		return errors.New("at: handle URC: empty prefix or nil Line handler")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	urcs := make([]URC, 0, len(e.urcs)+1)
	for _, x := range e.urcs {
		if x.Prefix != u.Prefix {
			urcs = append(urcs, x)
		}
	}
	urcs = append(urcs, u)
	// Longest prefix first, so the first match is the most specific.
	sort.SliceStable(urcs, func(i, j int) bool { return len(urcs[i].Prefix) > len(urcs[j].Prefix) })
	e.urcs = urcs
	return nil
}

// RemoveURC removes the registration with this prefix, if any.
func (e *Engine) RemoveURC(prefix string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	urcs := make([]URC, 0, len(e.urcs))
	for _, x := range e.urcs {
		if x.Prefix != prefix {
			urcs = append(urcs, x)
		}
	}
	e.urcs = urcs
}

// findURC returns the registration for line; e.mu must be held.
func (e *Engine) findURC(line string) (URC, bool) {
	for _, u := range e.urcs {
		if strings.HasPrefix(line, u.Prefix) {
			return u, true
		}
	}
	return URC{}, false
}

// headerEnd reports whether partial line l completes a HeaderEnd URC.
func (e *Engine) headerEnd(l []byte) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	l = bytes.TrimLeft(l, " \t")
	if len(l) == 0 {
		return false
	}
	last := l[len(l)-1]
	for _, u := range e.urcs {
		if u.HeaderEnd != 0 && u.HeaderEnd == last && len(l) > len(u.Prefix) && bytes.HasPrefix(l, []byte(u.Prefix)) {
			return true
		}
	}
	return false
}
