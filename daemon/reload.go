package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"

	"go.yaml.in/yaml/v3"
)

// Reloading the configuration (SIGHUP: `systemctl reload iotd`). The
// daemon re-reads its file and applies what can change while it runs:
//
//   - log.level, at once, for every line the daemon and its devices log
//     (log.format and the plugins' logs keep theirs);
//   - memory_limit (unless GOMEMLIMIT is set).
//
// Everything else — the identity, the link, mqtt, the outbox, features
// and their hooks, drivers, devices, the socket, plugins — is built into
// the running devices and connections when the daemon starts, so a change
// there is named in the log, key by key ("changed link, features.rrpc:
// restart iotd to apply"), and takes effect at the next start. An invalid
// file is refused with its error and the daemon keeps running as it was.
// Only key names are logged, never values (a key may hold a secret).

// liveLevel is the log level a reload may set: until it does, every
// logger of the daemon logs at the level its caller's handler has.
type liveLevel struct {
	set   atomic.Bool
	level slog.LevelVar
}

// wrap returns log, its level governed by l once a reload sets one.
func (l *liveLevel) wrap(log *slog.Logger) *slog.Logger {
	return slog.New(&levelHandler{h: log.Handler(), l: l})
}

func (l *liveLevel) setLevel(lv slog.Level) {
	l.level.Set(lv)
	l.set.Store(true)
}

// levelHandler filters by its liveLevel once set, else by its handler's
// own level. Handle passes records straight on: slog's handlers do not
// filter in Handle, so a reload may also lower the level below the one
// the handler was made with.
type levelHandler struct {
	h slog.Handler
	l *liveLevel
}

func (h *levelHandler) Enabled(ctx context.Context, lv slog.Level) bool {
	if h.l.set.Load() {
		return lv >= h.l.level.Level()
	}
	return h.h.Enabled(ctx, lv)
}

func (h *levelHandler) Handle(ctx context.Context, r slog.Record) error { return h.h.Handle(ctx, r) }

func (h *levelHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &levelHandler{h: h.h.WithAttrs(as), l: h.l}
}

func (h *levelHandler) WithGroup(name string) slog.Handler {
	return &levelHandler{h: h.h.WithGroup(name), l: h.l}
}

// parseLevel maps log.level's values ("" is info).
func parseLevel(s string) slog.Level {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// reloader re-reads the daemon's configuration file.
type reloader struct {
	d *Daemon
	// file is the configuration file as the daemon started with it; nil
	// when it could not be read again.
	file []byte
	// started is file by key (see configKeys), worked out at the first
	// reload: decoding and flattening it as the daemon starts would cost
	// every daemon half a megabyte of heap for a SIGHUP that may never come.
	started map[string]string
	level   slog.Level
	memory  string // memory_limit as last applied
}

// newReloader reads the configuration file once more as the daemon
// starts: the daemon's own Config may have been changed since it was
// read (command-line flags, defaults), and a reload compares file with
// file.
func (d *Daemon) newReloader() *reloader {
	r := &reloader{d: d, level: parseLevel(d.cfg.Log.Level)}
	if d.cfg.File == "" {
		return r
	}
	data, err := os.ReadFile(d.cfg.File)
	if err != nil {
		d.log.Warn("reload: cannot read the configuration again; SIGHUP will be ignored", "err", err)
		return r
	}
	r.file = data
	return r
}

// startedKeys decodes the file as the daemon started with it, once.
func (r *reloader) startedKeys() error {
	if r.started != nil {
		return nil
	}
	abs, err := filepath.Abs(r.d.cfg.File)
	if err != nil {
		return err
	}
	cfg, err := ParseConfig(r.file, r.d.cfg.File, filepath.Dir(abs))
	if err != nil {
		return err
	}
	if r.started, err = configKeys(cfg); err != nil {
		return err
	}
	r.memory = r.started["memory_limit"]
	return nil
}

// reload re-reads the file: it applies what can change live and names
// the rest in the log.
func (r *reloader) reload() {
	log, file := r.d.log, r.d.cfg.File
	if r.file == nil {
		log.Warn("reload: SIGHUP ignored: the configuration was not read from a file iotd can read again")
		return
	}
	if err := r.startedKeys(); err != nil {
		log.Warn("reload: SIGHUP ignored: the configuration file as iotd read it at start does not decode", "err", err)
		return
	}
	cfg, err := LoadConfig(file)
	var now map[string]string
	if err == nil {
		now, err = configKeys(cfg)
	}
	if err != nil {
		log.Error("reload: configuration refused; iotd keeps running as it was", "err", err)
		return
	}
	if lv := parseLevel(cfg.Log.Level); lv != r.level {
		r.d.live.setLevel(lv)
		r.level = lv
		log.Info("reload: log level changed", "level", strings.ToLower(lv.String()))
	}
	if m := now["memory_limit"]; m != r.memory {
		r.memory = m
		if os.Getenv("GOMEMLIMIT") == "" {
			lim := cfg.MemoryLimitBytes()
			if lim <= 0 {
				lim = math.MaxInt64
			}
			debug.SetMemoryLimit(lim)
			log.Info("reload: memory limit changed", "bytes", lim)
		}
	}
	var changed []string
	for _, k := range slices.Sorted(maps.Keys(union(r.started, now))) {
		if k == "log.level" || k == "memory_limit" {
			continue
		}
		if r.started[k] != now[k] {
			changed = append(changed, k)
		}
	}
	if len(changed) > 0 {
		log.Warn(fmt.Sprintf("reload: changed %s: restart iotd to apply", strings.Join(changed, ", ")),
			"file", file)
		return
	}
	log.Info("reload: configuration re-read", "file", file)
}

func union(a, b map[string]string) map[string]string {
	out := maps.Clone(a)
	maps.Copy(out, b)
	return out
}

// configKeys flattens cfg into the keys a reload compares: the top-level
// keys, log.* and features.* one level down, and a daemon with devices:
// each device's as devices.NAME.KEY. Values are their YAML.
func configKeys(cfg *Config) (map[string]string, error) {
	out := map[string]string{}
	if err := flattenInto(out, "", cfg); err != nil {
		return nil, err
	}
	for name, dc := range cfg.Devices {
		if err := flattenInto(out, "devices."+name+".", dc); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func flattenInto(out map[string]string, prefix string, v any) error {
	b, err := yaml.Marshal(v)
	if err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	for k, val := range m {
		if sub, ok := val.(map[string]any); ok && (k == "features" || k == "log") {
			for sk, sv := range sub {
				sb, _ := yaml.Marshal(sv)
				out[prefix+k+"."+sk] = string(sb)
			}
			continue
		}
		vb, _ := yaml.Marshal(val)
		out[prefix+k] = string(vb)
	}
	return nil
}
