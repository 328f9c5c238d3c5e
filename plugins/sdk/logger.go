package sdk

import (
	"context"
	"log/slog"
	"slices"
)

// Logger returns a logger for a driver built before [Serve] runs (as
// drivers are: Serve takes them as arguments): each record goes to slog's
// default logger as it is when the record is logged, which Serve points at
// the host, so the driver's logs appear in iotd's log tagged with the
// plugin. Attributes added with With are kept; groups are not.
func Logger() *slog.Logger { return slog.New(defaultHandler{}) }

// defaultHandler forwards to slog.Default()'s handler at log time.
type defaultHandler struct{ attrs []slog.Attr }

func (defaultHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return slog.Default().Handler().Enabled(ctx, l)
}

func (h defaultHandler) Handle(ctx context.Context, r slog.Record) error {
	return slog.Default().Handler().WithAttrs(h.attrs).Handle(ctx, r)
}

func (h defaultHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return defaultHandler{attrs: append(slices.Clip(h.attrs), as...)}
}

func (h defaultHandler) WithGroup(string) slog.Handler { return h }
