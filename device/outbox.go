package device

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/iotd/iotd/bus/outbox"
	"github.com/iotd/iotd/core"
)

// OutboxConfig configures the durable outbox: QoS 1 messages the daemon
// accepted are kept in {state_dir}/outbox.db (or a JetStream stream) until
// the hub acknowledges them, across restarts, crashes and power loss.
type OutboxConfig struct {
	// Enabled turns the outbox on (default true on the mqtt channel). Off,
	// QoS 1 messages wait in memory like QoS 0 and die with the process.
	Enabled *bool `yaml:"enabled"`
	// Backend is where the messages wait: file (the default,
	// {state_dir}/outbox.db) or jetstream (a stream on the bus's NATS
	// server, with bus.backend: nats; it survives the loss of this
	// machine's disk, and with bus.replicas 3 of a NATS server).
	Backend string `yaml:"backend"`
	// Stream is the jetstream outbox's stream (default OUTBOX_ and
	// bus.subject_prefix with '.' as '_'), created when missing; the
	// stream is the device's alone.
	Stream string `yaml:"stream"`
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
	switch c.Backend {
	case "", BackendFile:
	case BackendJetStream:
		if c.Sync != "" || c.SyncInterval != 0 {
			return bad("sync", "the file's setting: with backend jetstream a message is stored once the stream acknowledged it (on a quorum of its replicas)")
		}
		if c.Stream != "" {
			if err := validStream(c.Stream); err != nil {
				return bad("stream", err.Error())
			}
		}
	default:
		return bad("backend", fmt.Sprintf("%q: use file (the default) or jetstream", c.Backend))
	}
	if c.Stream != "" && c.Backend != BackendJetStream {
		return bad("stream", "a jetstream outbox's setting: set backend: jetstream too")
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

// Outbox backends (outbox.backend).
const (
	BackendFile      = "file"
	BackendJetStream = "jetstream"
)

// validStream checks a JetStream stream name.
func validStream(s string) error {
	if strings.ContainsAny(s, ". \t\r\n*>/\\") {
		return fmt.Errorf("%q: a stream name has no '.', '*', '>', '/', '\\' or whitespace", s)
	}
	return nil
}

// OutboxStream is the stream of a jetstream outbox: outbox.stream, or
// OUTBOX_ and the bus's subject prefix with '.' as '_'.
func (c *Config) OutboxStream() string {
	if c.Outbox.Stream != "" {
		return c.Outbox.Stream
	}
	return "OUTBOX_" + strings.ReplaceAll(c.Bus.NATS.WithDefaults().SubjectPrefix, ".", "_")
}

// OutboxFile is the outbox's file name in the state directory.
const OutboxFile = "outbox.db"

// outboxOpenTimeout bounds the opening of a jetstream outbox: creating its
// stream and reading the headers of what it holds.
const outboxOpenTimeout = time.Minute

// openOutbox opens the outbox when the configuration wants one; nil
// otherwise.
func (d *Device) openOutbox() (outbox.Store, error) {
	c := d.cfg.Outbox
	if !c.enabled() || d.cfg.channel() != ChannelMQTT {
		return nil, nil
	}
	opts := outbox.Options{
		MaxMessages: c.MaxMessages, MaxBytes: c.MaxBytes, MaxDeadLetters: c.MaxDeadLetters,
		Sync: outbox.SyncPolicy(c.Sync), SyncInterval: c.SyncInterval, Log: d.log,
	}
	if c.Backend == BackendJetStream {
		ctx, cancel := context.WithTimeout(context.Background(), outboxOpenTimeout)
		defer cancel()
		return d.bus.OpenOutbox(ctx, d.cfg.OutboxStream(), opts)
	}
	dir := d.cfg.StateDirPath()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("outbox: state directory: %w", err)
	}
	box, err := outbox.Open(filepath.Join(dir, OutboxFile), opts)
	if err != nil {
		return nil, err // not a nil *Outbox in a non-nil Store
	}
	return box, nil
}
