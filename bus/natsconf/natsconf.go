// Package natsconf holds the configuration of the bus's NATS JetStream
// backend: plain data and its validation, so that package bus can carry it
// in its Config without linking the NATS client (package bus/natsbus, which
// implements the backend, is linked only with the iotd_nats build tag).
package natsconf

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Config is the NATS part of the bus configuration: the keys under `bus:`
// next to `backend: nats`.
type Config struct {
	// URL is the server to connect to: nats://host:4222, tls://host:4222,
	// or several, comma-separated (the servers of a cluster).
	URL string `yaml:"url" json:"url,omitempty"`
	// CredsFile is a NATS credentials file (user JWT and NKey seed).
	CredsFile string `yaml:"creds_file" json:"creds_file,omitempty"`
	// CAFile verifies the server's certificate (TLS); CertFile and KeyFile
	// are a client certificate for servers that ask for one.
	CAFile   string `yaml:"ca_file" json:"ca_file,omitempty"`
	CertFile string `yaml:"cert_file" json:"cert_file,omitempty"`
	KeyFile  string `yaml:"key_file" json:"key_file,omitempty"`

	// Stream is the JetStream stream that holds the bus's messages
	// (default IOTD). It is created when missing, with the settings
	// below; an existing stream is used as it is, except that
	// "<prefix>.>" is added to its subjects when they do not cover it.
	Stream string `yaml:"stream" json:"stream,omitempty"`
	// SubjectPrefix is the first token(s) of every subject (default
	// iotd): the stream's subjects are "<prefix>.>". Devices that share a
	// NATS server need a prefix each (iotd.dev1, iotd.dev2); they may share
	// the stream.
	SubjectPrefix string `yaml:"subject_prefix" json:"subject_prefix,omitempty"`
	// Retention is "interest" (default: a message is removed once every
	// subscription that existed when it was published acked it, and at
	// once when there is none, as on the in-process bus) or "limits"
	// (kept until MaxAge or MaxBytes push it out).
	Retention string `yaml:"retention" json:"retention,omitempty"`
	// Storage is "file" (default) or "memory".
	Storage string `yaml:"storage" json:"storage,omitempty"`
	// MaxAge bounds how long a message stays in the stream (default 24h);
	// MaxBytes bounds its size (default 256 MiB; -1: unbounded). The
	// oldest messages are discarded first.
	MaxAge   time.Duration `yaml:"max_age" json:"max_age,omitempty"`
	MaxBytes int64         `yaml:"max_bytes" json:"max_bytes,omitempty"`
	// Replicas is the stream's replication factor in a cluster (default
	// 1; 3 survives the loss of one server).
	Replicas int `yaml:"replicas" json:"replicas,omitempty"`

	// AckWait is how long the server waits for a subscription's ack
	// before it delivers the message again (default 30s). A subscription
	// whose consumer holds a message longer tells the server it is still
	// in progress, so this bounds only the redelivery after a crash.
	AckWait time.Duration `yaml:"ack_wait" json:"ack_wait,omitempty"`
	// PublishTimeout bounds the wait for the stream's acknowledgement of
	// a publish (default 5s).
	PublishTimeout time.Duration `yaml:"publish_timeout" json:"publish_timeout,omitempty"`
}

// Defaults.
const (
	DefaultStream         = "IOTD"
	DefaultSubjectPrefix  = "iotd"
	DefaultMaxAge         = 24 * time.Hour
	DefaultMaxBytes       = 256 << 20
	DefaultAckWait        = 30 * time.Second
	DefaultPublishTimeout = 5 * time.Second
)

// WithDefaults returns c with its unset fields at their defaults.
func (c Config) WithDefaults() Config {
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if c.SubjectPrefix == "" {
		c.SubjectPrefix = DefaultSubjectPrefix
	}
	if c.Retention == "" {
		c.Retention = "interest"
	}
	if c.Storage == "" {
		c.Storage = "file"
	}
	if c.MaxAge == 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.AckWait == 0 {
		c.AckWait = DefaultAckWait
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	return c
}

// Validate reports the first invalid setting of c (after defaults).
func (c Config) Validate() error {
	c = c.WithDefaults()
	var errs []error
	if strings.TrimSpace(c.URL) == "" {
		errs = append(errs, errors.New("bus.url: required with backend nats"))
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		errs = append(errs, errors.New("bus.cert_file and bus.key_file: give both or neither"))
	}
	if strings.ContainsAny(c.Stream, ". \t\r\n*>/\\") {
		errs = append(errs, fmt.Errorf("bus.stream %q: a stream name has no '.', '*', '>', '/', '\\' or whitespace", c.Stream))
	}
	if err := ValidPrefix(c.SubjectPrefix); err != nil {
		errs = append(errs, fmt.Errorf("bus.subject_prefix: %w", err))
	}
	switch c.Retention {
	case "interest", "limits":
	default:
		errs = append(errs, fmt.Errorf("bus.retention %q: interest or limits (a work queue cannot fan out)", c.Retention))
	}
	switch c.Storage {
	case "file", "memory":
	default:
		errs = append(errs, fmt.Errorf("bus.storage %q: file or memory", c.Storage))
	}
	if c.MaxAge < 0 || c.MaxBytes < -1 || c.Replicas < 1 || c.Replicas > 5 || c.AckWait < 0 || c.PublishTimeout < 0 {
		errs = append(errs, errors.New("bus: max_age, ack_wait and publish_timeout are >= 0, max_bytes >= -1, replicas 1..5"))
	}
	return errors.Join(errs...)
}

// ValidPrefix checks a subject prefix: dot-separated tokens of letters,
// digits, '-' and '_'.
func ValidPrefix(p string) error {
	for tok := range strings.SplitSeq(p, ".") {
		if tok == "" {
			return fmt.Errorf("%q: empty token", p)
		}
		for i := 0; i < len(tok); i++ {
			if c := tok[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("%q: tokens hold letters, digits, '-' and '_'", p)
			}
		}
	}
	return nil
}
