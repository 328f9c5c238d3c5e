package logupload

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// selfKey and selfValue mark the uploader's own records, which its handler
// ignores.
const (
	selfKey   = "feature"
	selfValue = "logupload"
)

// handler is the slog.Handler of an Uploader.
type handler struct {
	u      *Uploader
	attrs  string // pre-rendered attributes of WithAttrs
	prefix string // group prefix
	self   bool   // the uploader's own logger: drop everything
}

// Handler returns a slog.Handler that offers every record at or above the
// upload level to the uploader, without blocking. Tee the daemon's logger
// into it (a multi-handler). Records of the uploader's own logger are
// ignored.
func (u *Uploader) Handler() slog.Handler { return &handler{u: u} }

func (h *handler) Enabled(_ context.Context, l slog.Level) bool {
	return !h.self && h.u.accepts(Severity(l))
}

func (h *handler) Handle(_ context.Context, r slog.Record) error {
	if h.self {
		return nil
	}
	var b strings.Builder
	b.WriteString(r.Message)
	b.WriteString(h.attrs)
	self := false
	r.Attrs(func(a slog.Attr) bool {
		if isSelf(a) {
			self = true
			return false
		}
		writeAttr(&b, h.prefix, a)
		return true
	})
	if self {
		return nil
	}
	file, fn, line := "-", "-", 0
	if r.PC != 0 {
		f, _ := runtime.CallersFrames([]uintptr{r.PC}).Next()
		file, line = filepath.Base(f.File), f.Line
		fn = f.Function[strings.LastIndexByte(f.Function, '/')+1:]
	}
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	h.u.offer(Severity(r.Level), FormatLine(Severity(r.Level), t, file, fn, line, b.String()))
	return nil
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	var b strings.Builder
	b.WriteString(h.attrs)
	for _, a := range as {
		if isSelf(a) {
			n.self = true
		}
		writeAttr(&b, h.prefix, a)
	}
	n.attrs = b.String()
	return &n
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	n := *h
	n.prefix = h.prefix + name + "."
	return &n
}

func isSelf(a slog.Attr) bool {
	return a.Key == selfKey && a.Value.Kind() == slog.KindString && a.Value.String() == selfValue
}

func writeAttr(b *strings.Builder, prefix string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range a.Value.Group() {
			writeAttr(b, p, g)
		}
		return
	}
	v := a.Value.String()
	if strings.ContainsAny(v, " \"=") {
		v = fmt.Sprintf("%q", v)
	}
	fmt.Fprintf(b, " %s%s=%s", prefix, a.Key, v)
}
