package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/iotd/iotd/features/logupload"
)

// LogUploadConfig turns on the upload of iotd's logs (and of lines local
// applications send) to the hub's log service (PROTOCOL.md §3.2). It is off
// unless Enabled: logs leave the device only when asked to.
type LogUploadConfig struct {
	// Enabled turns log upload on.
	Enabled          bool `yaml:"enabled"`
	logupload.Config `yaml:",inline"`
	// Driver is the stream driver the HTTP posts go through (default "tcp").
	Driver string `yaml:"driver"`
}

// newLogUpload builds the uploader when enabled, and returns the logger the
// rest of the daemon should use: the given one, teed into the uploader.
func (d *Daemon) newLogUpload(log *slog.Logger) (*logupload.Uploader, *slog.Logger, error) {
	lc := d.cfg.Features.LogUpload
	if !lc.Enabled {
		return nil, log, nil
	}
	cfg := lc.Config
	cfg.URL = d.contact.LogUploadURL // the configured URL, else the region's
	if cfg.SpoolDir == "" {
		cfg.SpoolDir = filepath.Join(d.cfg.StateDirPath(), "logupload")
	} else {
		cfg.SpoolDir = d.cfg.path(cfg.SpoolDir)
	}
	client, err := httpClient(d.reg, d.cfg, lc.Driver, "", 0)
	if err != nil {
		return nil, nil, err
	}
	// The $log level follower needs an MQTT downlink; over CoAP the
	// uploader keeps its configured level.
	b := d.bus
	if d.cfg.channel() == ChannelCoAP {
		b = nil
	}
	u, err := logupload.New(cfg, b, d.device, client, d.clock.Now, log)
	if err != nil {
		return nil, nil, err
	}
	return u, slog.New(slog.NewMultiHandler(log.Handler(), u.Handler())), nil
}

// LogLine is the body of POST /v1/log: a line a local application wants
// uploaded with iotd's own.
type LogLine struct {
	// Level is debug, info, warn or error.
	Level string `json:"level"`
	// Source names the application (shown where the C SDK puts file/func).
	Source string `json:"source,omitempty"`
	Text   string `json:"text"`
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

func (s *apiServer) logLine(w http.ResponseWriter, r *http.Request) {
	if s.d.logup == nil {
		writeError(w, http.StatusConflict, errors.New("log: upload is off (features.logupload.enabled: false)"))
		return
	}
	var req LogLine
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("log: bad request body: %w", err))
		return
	}
	lvl, err := parseLevel(req.Level)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("log: %w", err))
		return
	}
	if req.Text == "" {
		writeError(w, http.StatusBadRequest, errors.New("log: empty text"))
		return
	}
	src := req.Source
	if src == "" {
		src = "app"
	}
	accepted := s.d.logup.Add(lvl, src, req.Text)
	writeJSON(w, http.StatusOK, map[string]bool{"accepted": accepted})
}
