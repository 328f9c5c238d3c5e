package daemon

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	mqttup "github.com/iotd/iotd/bus/mqtt"
	"github.com/iotd/iotd/bus/outbox"
	"github.com/iotd/iotd/core"
)

// OutboxConfig configures the durable outbox: QoS 1 messages the daemon
// accepted are kept in {state_dir}/outbox.db until the hub acknowledges
// them, across restarts, crashes and power loss.
type OutboxConfig struct {
	// Enabled turns the outbox on (default true on the mqtt channel). Off,
	// QoS 1 messages wait in memory like QoS 0 and die with the process.
	Enabled *bool `yaml:"enabled"`
	// Sync is when stored messages reach the disk: always (default: a
	// publish is answered "stored" only after fsync; concurrent publishes
	// share one), interval (fsync every sync_interval: a power cut loses up
	// to one interval, a crash of iotd nothing), or never (tests only).
	Sync string `yaml:"sync"`
	// SyncInterval is the fsync period of sync: interval (default 200ms).
	SyncInterval time.Duration `yaml:"sync_interval"`
	// MaxMessages and MaxBytes bound the stored messages (payload and
	// topic bytes); a publish past either is refused at once, or makes room
	// with mqtt.overflow: drop_oldest. Defaults 10000 and 32 MiB.
	MaxMessages int   `yaml:"max_messages"`
	MaxBytes    int64 `yaml:"max_bytes"`
	// MaxDeadLetters bounds the parked messages kept (default 100); past
	// it the oldest is dropped.
	MaxDeadLetters int `yaml:"max_dead_letters"`
}

func (c OutboxConfig) enabled() bool { return c.Enabled == nil || *c.Enabled }

// Validate checks the outbox settings.
func (c OutboxConfig) Validate() error {
	bad := func(field, msg string) error {
		return &core.ConfigError{Source: "config", Field: "outbox." + field, Msg: msg}
	}
	switch outbox.SyncPolicy(c.Sync) {
	case "", outbox.SyncAlways, outbox.SyncInterval, outbox.SyncNever:
	default:
		return bad("sync", fmt.Sprintf("%q: use always, interval or never", c.Sync))
	}
	switch {
	case c.SyncInterval < 0:
		return bad("sync_interval", "must not be negative")
	case c.MaxMessages < 0:
		return bad("max_messages", "must not be negative")
	case c.MaxBytes < 0:
		return bad("max_bytes", "must not be negative")
	case c.MaxDeadLetters < 0:
		return bad("max_dead_letters", "must not be negative")
	}
	return nil
}

// OutboxFile is the outbox's file name in the state directory.
const OutboxFile = "outbox.db"

// openOutbox opens the outbox when the configuration wants one; nil
// otherwise.
func (d *Daemon) openOutbox() (*outbox.Outbox, error) {
	c := d.cfg.Outbox
	if !c.enabled() || d.cfg.channel() != ChannelMQTT {
		return nil, nil
	}
	dir := d.cfg.StateDirPath()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("outbox: state directory: %w", err)
	}
	return outbox.Open(filepath.Join(dir, OutboxFile), outbox.Options{
		MaxMessages: c.MaxMessages, MaxBytes: c.MaxBytes, MaxDeadLetters: c.MaxDeadLetters,
		Sync: outbox.SyncPolicy(c.Sync), SyncInterval: c.SyncInterval, Log: d.log,
	})
}

// OutboxList is the answer of GET /v1/outbox.
type OutboxList struct {
	// Outbox is the outbox's use; nil when there is none.
	Outbox *mqttup.Bound `json:"outbox,omitempty"`
	// Memory is the memory queue's use.
	Memory      mqttup.Bound        `json:"memory"`
	DeadLetters []mqttup.DeadLetter `json:"dead_letters"`
}

func (s *apiServer) outboxRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/outbox", s.outboxList)
	mux.HandleFunc("POST /v1/outbox/{id}/retry", s.outboxRetry)
	mux.HandleFunc("DELETE /v1/outbox/{id}", s.outboxDrop)
}

var errNoOutboxOnCoAP = errors.New("outbox: the CoAP channel keeps no outbox or dead letters")

func (s *apiServer) outboxList(w http.ResponseWriter, _ *http.Request) {
	u := s.d.mqtt
	if u == nil {
		writeError(w, http.StatusNotFound, errNoOutboxOnCoAP)
		return
	}
	dead, err := u.DeadLetters()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	st := u.Status()
	if dead == nil {
		dead = []mqttup.DeadLetter{}
	}
	writeJSON(w, http.StatusOK, OutboxList{Outbox: st.Outbox, Memory: st.Memory, DeadLetters: dead})
}

func (s *apiServer) outboxRetry(w http.ResponseWriter, r *http.Request) {
	s.outboxAct(w, r, func(u *mqttup.Uplink, id string) error { return u.RetryDeadLetter(id) })
}

func (s *apiServer) outboxDrop(w http.ResponseWriter, r *http.Request) {
	s.outboxAct(w, r, func(u *mqttup.Uplink, id string) error { return u.DropDeadLetter(id) })
}

func (s *apiServer) outboxAct(w http.ResponseWriter, r *http.Request, act func(*mqttup.Uplink, string) error) {
	u := s.d.mqtt
	if u == nil {
		writeError(w, http.StatusNotFound, errNoOutboxOnCoAP)
		return
	}
	id := r.PathValue("id")
	if err := act(u, id); err != nil {
		code := http.StatusInternalServerError
		switch {
		case errors.Is(err, mqttup.ErrNoDeadLetter):
			code = http.StatusNotFound
		case errors.Is(err, outbox.ErrFull):
			code = http.StatusInsufficientStorage
		}
		writeError(w, code, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": id})
}
