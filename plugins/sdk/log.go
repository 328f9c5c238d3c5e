package sdk

import (
	"io"
	"log/slog"
)

// hclogTime is the timestamp layout go-plugin's host parses; a line with
// any other layout is not recognised as a log record.
const hclogTime = "2006-01-02T15:04:05.000000Z07:00"

// newLogHandler writes slog records as the JSON lines (hclog's format:
// @level, @message, @timestamp, then the attributes) that the go-plugin
// host reads from a plugin's stderr and re-emits at the same level.
func newLogHandler(w io.Writer, level slog.Leveler) slog.Handler {
	return slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				return slog.String("@timestamp", a.Value.Time().Format(hclogTime))
			case slog.LevelKey:
				lv, _ := a.Value.Any().(slog.Level)
				return slog.String("@level", hclogLevel(lv))
			case slog.MessageKey:
				return slog.String("@message", a.Value.String())
			}
			return a
		},
	})
}

func hclogLevel(l slog.Level) string {
	switch {
	case l < slog.LevelDebug:
		return "trace"
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	default:
		return "error"
	}
}
