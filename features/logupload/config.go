package logupload

import (
	"errors"
	"fmt"
	"time"
)

// Defaults of a [Config] (the C SDK's values where it has one).
const (
	DefaultURL           = "http://devicelog.iot.cloud.tencent.com/cgi-bin/report-log"
	DefaultFlushInterval = 2 * time.Second
	DefaultFlushBytes    = 3750 // the SDK flushes when less than 1250 of 5000 bytes are free
	DefaultMaxPostBytes  = 3000
	DefaultQueueLines    = 1024
	DefaultSpoolBytes    = 15000
	DefaultSpoolFiles    = 64
	DefaultTimeout       = 5 * time.Second
	DefaultLevel         = 1
)

// Config configures log upload. The zero value works (no spool directory:
// failed batches are kept in memory only).
type Config struct {
	// Disabled turns log upload off: lines are discarded, nothing is sent.
	Disabled bool `yaml:"disabled" json:"disabled"`
	// URL is the log service endpoint (default DefaultURL).
	URL string `yaml:"url" json:"url"`
	// Level is the upload level until the hub sets one: 0 to 4 (default 1,
	// errors). Use -1 for "nothing until the hub answers".
	Level *int `yaml:"level" json:"level"`
	// FlushInterval is the batching period (default 2s).
	FlushInterval time.Duration `yaml:"flush_interval" json:"flush_interval"`
	// FlushBytes sends a batch early once this many bytes wait (default 3750).
	FlushBytes int `yaml:"flush_bytes" json:"flush_bytes"`
	// MaxPostBytes bounds the lines of one POST (default 3000); a larger
	// batch is split.
	MaxPostBytes int `yaml:"max_post_bytes" json:"max_post_bytes"`
	// QueueLines bounds the lines waiting between the logger and the
	// uploader (default 1024); more are dropped and counted.
	QueueLines int `yaml:"queue_lines" json:"queue_lines"`
	// SpoolDir keeps failed batches on disk ("" keeps them in memory).
	SpoolDir string `yaml:"spool_dir" json:"spool_dir"`
	// SpoolBytes and SpoolFiles bound the kept batches (default 15000
	// bytes, 64 batches); the oldest are dropped first.
	SpoolBytes int `yaml:"spool_bytes" json:"spool_bytes"`
	SpoolFiles int `yaml:"spool_files" json:"spool_files"`
	// Timeout bounds one POST (default 5s).
	Timeout time.Duration `yaml:"timeout" json:"timeout"`
}

func (c *Config) setDefaults() {
	if c.URL == "" {
		c.URL = DefaultURL
	}
	if c.Level == nil {
		l := DefaultLevel
		c.Level = &l
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.FlushBytes, DefaultFlushBytes)
	def(&c.MaxPostBytes, DefaultMaxPostBytes)
	def(&c.QueueLines, DefaultQueueLines)
	def(&c.SpoolBytes, DefaultSpoolBytes)
	def(&c.SpoolFiles, DefaultSpoolFiles)
	if c.FlushInterval == 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if c.Level != nil && (*c.Level < -1 || *c.Level > 4) {
		return fmt.Errorf("logupload: level: %d, use 0 (errors, only after communication errors) to 4 (debug), or -1 (nothing until the hub sets a level)", *c.Level)
	}
	if c.FlushInterval < 0 || c.Timeout < 0 {
		return errors.New("logupload: flush_interval and timeout must not be negative")
	}
	if c.MaxPostBytes != 0 && c.MaxPostBytes < MaxLineBytes {
		return fmt.Errorf("logupload: max_post_bytes: %d, use at least %d (one line)", c.MaxPostBytes, MaxLineBytes)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"flush_bytes", c.FlushBytes}, {"queue_lines", c.QueueLines}, {"spool_bytes", c.SpoolBytes}, {"spool_files", c.SpoolFiles}} {
		if f.v < 0 {
			return fmt.Errorf("logupload: %s: must not be negative", f.name)
		}
	}
	return nil
}
