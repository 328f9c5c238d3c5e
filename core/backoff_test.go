package core

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

func fixedRand(v float64) func() float64 { return func() float64 { return v } }

func TestBackoffNominalGrowsAndCaps(t *testing.T) {
	b, err := NewBackoff(BackoffConfig{}, fixedRand(0))
	require.NoError(t, err)
	want := []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second,
		16 * time.Second, 32 * time.Second, 60 * time.Second, 60 * time.Second}
	for n, w := range want {
		assert.Equal(t, w, b.Nominal(n), "attempt %d", n)
		assert.Equal(t, w, b.Delay(n), "attempt %d with r=0", n)
	}
	// Far past the cap, including exponents that overflow float64.
	for _, n := range []int{100, 5000, math.MaxInt32} {
		assert.Equal(t, 60*time.Second, b.Delay(n), "attempt %d", n)
	}
	assert.Equal(t, time.Second, b.Nominal(-3))
}

func TestBackoffJitter(t *testing.T) {
	tests := []struct {
		name   string
		jitter float64
		r      float64
		want   time.Duration
	}{
		{name: "default equal jitter, r=0 gives the full wait", r: 0, want: 8 * time.Second},
		{name: "default equal jitter, r near 1 gives just over half", r: 0.999999, want: 4000004 * time.Microsecond},
		{name: "full jitter", jitter: 1, r: 0.75, want: 2 * time.Second},
		{name: "quarter jitter", jitter: 0.25, r: 0.5, want: 7 * time.Second},
		{name: "negative disables jitter", jitter: -1, r: 0.9, want: 8 * time.Second},
		{name: "out-of-range rand treated as 0", jitter: 1, r: 1.5, want: 8 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := NewBackoff(BackoffConfig{Jitter: tt.jitter}, fixedRand(tt.r))
			require.NoError(t, err)
			assert.InDelta(t, float64(tt.want), float64(b.Delay(3)), float64(time.Microsecond))
		})
	}
}

func TestBackoffJitterStaysInRange(t *testing.T) {
	b, err := NewBackoff(BackoffConfig{Initial: Duration(100 * time.Millisecond), Max: Duration(3 * time.Second)}, nil)
	require.NoError(t, err)
	for n := range 200 {
		nom := b.Nominal(n % 10)
		d := b.Delay(n % 10)
		assert.LessOrEqual(t, d, nom)
		assert.Greater(t, d, nom/2)
	}
}

func TestBackoffConfigValidate(t *testing.T) {
	tests := []struct {
		name  string
		cfg   BackoffConfig
		field string // "" = valid
	}{
		{name: "zero value", cfg: BackoffConfig{}},
		{name: "explicit", cfg: BackoffConfig{Initial: Duration(time.Second), Max: Duration(time.Minute), Multiplier: 1.5, Jitter: 1, StableAfter: Duration(time.Second)}},
		{name: "negative initial", cfg: BackoffConfig{Initial: -1}, field: "initial"},
		{name: "negative max", cfg: BackoffConfig{Max: -1}, field: "max"},
		{name: "negative stable_after", cfg: BackoffConfig{StableAfter: -1}, field: "stable_after"},
		{name: "multiplier below 1", cfg: BackoffConfig{Multiplier: 0.5}, field: "multiplier"},
		{name: "multiplier NaN", cfg: BackoffConfig{Multiplier: math.NaN()}, field: "multiplier"},
		{name: "jitter above 1", cfg: BackoffConfig{Jitter: 1.5}, field: "jitter"},
		{name: "initial above max", cfg: BackoffConfig{Initial: Duration(2 * time.Minute)}, field: "initial"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.field == "" {
				assert.NoError(t, err)
				return
			}
			var ce *ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tt.field, ce.Field)
			assert.Equal(t, ClassInvalidConfig, ClassOf(err))
			_, err = NewBackoff(tt.cfg, nil)
			assert.Error(t, err)
		})
	}
}

func TestBackoffConfigDecodes(t *testing.T) {
	want := BackoffConfig{
		Initial: Duration(500 * time.Millisecond), Max: Duration(2 * time.Minute),
		Multiplier: 1.5, Jitter: 0.25, StableAfter: Duration(45 * time.Second),
	}
	t.Run("yaml", func(t *testing.T) {
		src := "initial: 500ms\nmax: 2m\nmultiplier: 1.5\njitter: 0.25\nstable_after: \"45s\"\n"
		var got BackoffConfig
		dec := yaml.NewDecoder(bytes.NewBufferString(src))
		dec.KnownFields(true)
		require.NoError(t, dec.Decode(&got))
		assert.Equal(t, want, got)
		out, err := yaml.Marshal(got)
		require.NoError(t, err)
		var again BackoffConfig
		require.NoError(t, yaml.Unmarshal(out, &again))
		assert.Equal(t, want, again)
	})
	t.Run("json", func(t *testing.T) {
		src := `{"initial":"500ms","max":"2m","multiplier":1.5,"jitter":0.25,"stable_after":"45s"}`
		var got BackoffConfig
		dec := json.NewDecoder(bytes.NewBufferString(src))
		dec.DisallowUnknownFields()
		require.NoError(t, dec.Decode(&got))
		assert.Equal(t, want, got)
		out, err := json.Marshal(got)
		require.NoError(t, err)
		var again BackoffConfig
		require.NoError(t, json.Unmarshal(out, &again))
		assert.Equal(t, want, again)
	})
}

func TestDurationRejectsBareNumbersAndGarbage(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		json string
	}{
		{name: "bare number", yaml: "initial: 60", json: `{"initial":60}`},
		{name: "no unit", yaml: `initial: "60"`, json: `{"initial":"60"}`},
		{name: "unknown unit", yaml: "initial: 5 parsecs", json: `{"initial":"5 parsecs"}`},
		{name: "not a scalar", yaml: "initial: [1s]", json: `{"initial":["1s"]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c BackoffConfig
			err := yaml.Unmarshal([]byte(tt.yaml), &c)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "such as")
			err = json.Unmarshal([]byte(tt.json), &c)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "such as")
		})
	}
}

func FuzzDurationDecode(f *testing.F) {
	for _, s := range []string{`"1s"`, `"1h2m3.5s"`, `60`, `"-5ms"`, `"9999999999h"`, `null`, `"µs"`, `{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var d Duration
		if err := json.Unmarshal(b, &d); err == nil {
			// Whatever decoded must survive a round trip unchanged.
			out, err := json.Marshal(d)
			require.NoError(t, err)
			var again Duration
			require.NoError(t, json.Unmarshal(out, &again))
			assert.Equal(t, d, again)
		}
		var y struct {
			D Duration `yaml:"d"`
		}
		_ = yaml.Unmarshal(append([]byte("d: "), b...), &y)
	})
}
