package core

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration that configuration files write as a string in
// time.ParseDuration's form ("1s", "1m30s", "250ms"), in both YAML and JSON.
// A bare number is rejected, because "60" could mean seconds or nanoseconds.
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String returns d in time.Duration's notation ("1m0s").
func (d Duration) String() string { return time.Duration(d).String() }

func parseDuration(s string) (Duration, error) {
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("core: duration %q: write a number with a unit, such as \"1s\", \"500ms\" or \"2m\"", s)
	}
	return Duration(v), nil
}

// UnmarshalJSON accepts a JSON string such as "1s"; null leaves d unchanged.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("core: duration %s: write it as a string with a unit, such as \"1s\"", b)
	}
	v, err := parseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalJSON writes d as a string such as "1m0s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalYAML accepts a scalar such as 1s or "1s".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("core: line %d: duration: want a value such as 1s", n.Line)
	}
	v, err := parseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = v
	return nil
}

// MarshalYAML writes d as a string such as "1m0s".
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// BackoffConfig says how long a [Link] waits between connection attempts.
// The zero value selects every default. Unlike the C SDK, which stops trying
// once its doubling wait would pass 60 s, a Link never gives up: the wait is
// capped at Max and attempts go on.
//
// The wait before retry n (n = 0 for the first retry) is
//
//	d = min(Max, Initial × Multiplier^n)
//	wait = d × (1 − Jitter × r), r uniform in [0, 1)
//
// so the wait is drawn from ((1−Jitter)·d, d]. Jitter 0.5 (the default) is
// "equal jitter": at least half the nominal wait, which keeps a fleet that
// lost its broker at the same moment from reconnecting in step; Jitter 1 is
// "full jitter".
type BackoffConfig struct {
	// Initial is the nominal first wait. Default 1s.
	Initial Duration `yaml:"initial" json:"initial"`
	// Max caps the nominal wait. Default 60s.
	Max Duration `yaml:"max" json:"max"`
	// Multiplier is the growth factor per failed attempt, ≥ 1. Default 2.
	Multiplier float64 `yaml:"multiplier" json:"multiplier"`
	// Jitter is the fraction of the wait that is randomised, in [0, 1].
	// 0 selects the default 0.5; a negative value turns jitter off (tests,
	// single devices on a bench).
	Jitter float64 `yaml:"jitter" json:"jitter"`
	// StableAfter is how long a connection must stay up for the attempt
	// count to start again from zero, so that a link that flaps right
	// after connecting keeps backing off. Default 30s.
	StableAfter Duration `yaml:"stable_after" json:"stable_after"`
}

// Backoff defaults.
const (
	DefaultBackoffInitial     = time.Second
	DefaultBackoffMax         = 60 * time.Second
	DefaultBackoffMultiplier  = 2.0
	DefaultBackoffJitter      = 0.5
	DefaultBackoffStableAfter = 30 * time.Second
)

// Validate reports the first field that is out of range, naming it and the
// allowed values. Zero fields are valid: they select the defaults.
func (c BackoffConfig) Validate() error {
	bad := func(field, msg string) error {
		return &ConfigError{Source: "backoff", Field: field, Msg: msg}
	}
	switch {
	case c.Initial < 0:
		return bad("initial", fmt.Sprintf("%s is negative; use a positive duration such as 1s", c.Initial))
	case c.Max < 0:
		return bad("max", fmt.Sprintf("%s is negative; use a positive duration such as 60s", c.Max))
	case c.StableAfter < 0:
		return bad("stable_after", fmt.Sprintf("%s is negative; use a positive duration such as 30s", c.StableAfter))
	case math.IsNaN(c.Multiplier) || math.IsInf(c.Multiplier, 0) || (c.Multiplier != 0 && c.Multiplier < 1):
		return bad("multiplier", fmt.Sprintf("%v is out of range; use a number ≥ 1 (default 2)", c.Multiplier))
	case math.IsNaN(c.Jitter) || c.Jitter > 1:
		return bad("jitter", fmt.Sprintf("%v is out of range; use a fraction from 0 to 1 (default 0.5), or a negative value for none", c.Jitter))
	}
	d := c.withDefaults()
	if d.Initial > d.Max {
		return bad("initial", fmt.Sprintf("%s is larger than max (%s)", d.Initial, d.Max))
	}
	return nil
}

// withDefaults returns c with zero fields replaced by their defaults and a
// negative Jitter turned into 0.
func (c BackoffConfig) withDefaults() BackoffConfig {
	if c.Initial == 0 {
		c.Initial = Duration(DefaultBackoffInitial)
	}
	if c.Max == 0 {
		c.Max = Duration(DefaultBackoffMax)
	}
	if c.Multiplier == 0 {
		c.Multiplier = DefaultBackoffMultiplier
	}
	switch {
	case c.Jitter == 0:
		c.Jitter = DefaultBackoffJitter
	case c.Jitter < 0:
		c.Jitter = 0
	}
	if c.StableAfter == 0 {
		c.StableAfter = Duration(DefaultBackoffStableAfter)
	}
	return c
}

// Backoff computes waits from a [BackoffConfig]. It keeps no attempt count
// of its own, so one Backoff may serve several goroutines.
type Backoff struct {
	cfg  BackoffConfig
	rand func() float64
}

// NewBackoff validates cfg, applies its defaults and returns a Backoff. rnd
// returns numbers uniform in [0, 1); nil selects math/rand/v2's Float64.
// Tests pass a fixed rnd to make waits deterministic.
func NewBackoff(cfg BackoffConfig, rnd func() float64) (*Backoff, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if rnd == nil {
		rnd = rand.Float64
	}
	return &Backoff{cfg: cfg.withDefaults(), rand: rnd}, nil
}

// Config returns the configuration in use, defaults applied.
func (b *Backoff) Config() BackoffConfig { return b.cfg }

// StableAfter is how long a connection must last to reset the attempt count.
func (b *Backoff) StableAfter() time.Duration { return b.cfg.StableAfter.Std() }

// Nominal returns the un-jittered wait before retry n: min(Max,
// Initial × Multiplier^n). A negative n counts as 0.
func (b *Backoff) Nominal(n int) time.Duration {
	n = max(n, 0)
	maxD := float64(b.cfg.Max)
	d := float64(b.cfg.Initial) * math.Pow(b.cfg.Multiplier, float64(n))
	if math.IsInf(d, 0) || math.IsNaN(d) || d >= maxD {
		return b.cfg.Max.Std()
	}
	return time.Duration(d)
}

// Delay returns the jittered wait before retry n, in ((1−Jitter)·d, d]
// where d is [Backoff.Nominal](n).
func (b *Backoff) Delay(n int) time.Duration {
	d := float64(b.Nominal(n))
	r := b.rand()
	if r < 0 || r >= 1 || math.IsNaN(r) {
		r = 0
	}
	return time.Duration(d * (1 - b.cfg.Jitter*r))
}
