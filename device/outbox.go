package device

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

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
func (d *Device) openOutbox() (outbox.Store, error) {
	c := d.cfg.Outbox
	if !c.enabled() || d.cfg.channel() != ChannelMQTT {
		return nil, nil
	}
	dir := d.cfg.StateDirPath()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("outbox: state directory: %w", err)
	}
	box, err := outbox.Open(filepath.Join(dir, OutboxFile), outbox.Options{
		MaxMessages: c.MaxMessages, MaxBytes: c.MaxBytes, MaxDeadLetters: c.MaxDeadLetters,
		Sync: outbox.SyncPolicy(c.Sync), SyncInterval: c.SyncInterval, Log: d.log,
	})
	if err != nil {
		return nil, err // not a nil *Outbox in a non-nil Store
	}
	return box, nil
}
