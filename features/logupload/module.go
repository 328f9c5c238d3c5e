package logupload

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/iotd/iotd/feature"
	"github.com/iotd/iotd/localapi"
)

// ModuleConfig is features.logupload: log upload is off unless On,
// since logs leave the device only when asked to.
type ModuleConfig struct {
	// On turns log upload on (key "enabled").
	On     bool `yaml:"enabled"`
	Config `yaml:",inline"`
	// Driver is the stream driver the HTTP posts go through (default "tcp").
	Driver string `yaml:"driver"`
}

// Enabled reports whether log upload is on (feature.Section).
func (c *ModuleConfig) Enabled() bool { return c.On }

// Disable turns log upload off (feature.Section).
func (c *ModuleConfig) Disable() { c.On = false }

// The logupload module: features.logupload; it takes the daemon's log
// lines (feature.LogSink), serves POST /v1/log for local applications'
// lines and reports the "logupload" status section while on.
func init() {
	feature.Register(feature.Module{
		Name:   "logupload",
		Config: func() feature.Section { return &ModuleConfig{} },
		Needs:  feature.Needs{HostNetwork: true},
		Logs:   true,
		New:    newModule,
	})
}

// LogURL is the configured log service URL, empty for the region's; the
// daemon shows it in `iotd contact`.
func (c *ModuleConfig) LogURL() string { return c.URL }

// module is log upload as the daemon runs it; up is nil when off.
type module struct{ up *Uploader }

func newModule(sec feature.Section, env *feature.Env) (feature.Feature, error) {
	mc := sec.(*ModuleConfig)
	if !mc.On {
		return module{}, nil
	}
	cfg := mc.Config
	cfg.URL = cmp.Or(cfg.URL, env.Region.LogURL)
	if cfg.SpoolDir == "" {
		cfg.SpoolDir = filepath.Join(env.StateDir, "logupload")
	} else {
		cfg.SpoolDir = env.Path(cfg.SpoolDir)
	}
	tr, err := env.HTTP(cmp.Or(mc.Driver, "tcp"), nil)
	if err != nil {
		return nil, err
	}
	// The $log level follower needs a downlink; without one (coap) the
	// uploader keeps its configured level.
	b := env.Bus
	if !env.Caps.Downlink {
		b = nil
	}
	u, err := New(cfg, b, env.Device, &http.Client{Transport: tr}, env.Clock.Now, env.Log)
	if err != nil {
		return nil, err
	}
	return module{up: u}, nil
}

// Run uploads until ctx ends.
func (m module) Run(ctx context.Context) error {
	if m.up == nil {
		<-ctx.Done()
		return nil
	}
	return m.up.Run(ctx)
}

// Handler takes the daemon's log lines while on (feature.LogSink).
func (m module) Handler() slog.Handler {
	if m.up == nil {
		return nil
	}
	return m.up.Handler()
}

// Status is the "logupload" section while on (feature.Reporter).
func (m module) Status() any {
	if m.up == nil {
		return nil
	}
	return localapi.LogUploadStats(m.up.Stats())
}

// Routes mounts POST /v1/log, a line a local application wants uploaded
// with iotd's own (feature.Router).
func (m module) Routes(mux *http.ServeMux) {
	mux.HandleFunc("POST "+localapi.PathLog, m.serveLine)
}

func (m module) serveLine(w http.ResponseWriter, r *http.Request) {
	if m.up == nil {
		feature.WriteError(w, http.StatusConflict, errors.New("log: upload is off (features.logupload.enabled: false)"))
		return
	}
	var req localapi.LogLine
	if !feature.DecodeBody(w, r, 64<<10, "log", &req) {
		return
	}
	lvl, err := parseLevel(req.Level)
	if err != nil {
		feature.WriteError(w, http.StatusBadRequest, fmt.Errorf("log: %w", err))
		return
	}
	if req.Text == "" {
		feature.WriteError(w, http.StatusBadRequest, errors.New("log: empty text"))
		return
	}
	accepted := m.up.Add(lvl, cmp.Or(req.Source, "app"), req.Text)
	feature.WriteJSON(w, http.StatusOK, map[string]bool{"accepted": accepted})
}

func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("level %q: use debug, info, warn or error", s)
}
