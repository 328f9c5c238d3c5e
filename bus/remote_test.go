package bus_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/iotd/iotd/bus"
)

// The keys under `bus:` are flat: backend next to the NATS settings.
func TestConfigKeys(t *testing.T) {
	var c bus.Config
	dec := yaml.NewDecoder(strings.NewReader(`
backend: nats
url: nats://10.0.0.1:4222,nats://10.0.0.2:4222
creds_file: /etc/iotd/bus.creds
ca_file: ca.pem
cert_file: c.pem
key_file: k.pem
stream: EDGE
subject_prefix: site1.gw
retention: limits
storage: memory
max_age: 1h
max_bytes: 1048576
replicas: 3
ack_wait: 10s
publish_timeout: 2s
`))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&c))
	require.NoError(t, c.Validate())
	assert.Equal(t, "nats", c.Backend)
	assert.Equal(t, "EDGE", c.NATS.Stream)
	assert.Equal(t, time.Hour, c.NATS.MaxAge)
	assert.Equal(t, int64(1<<20), c.NATS.MaxBytes)
	assert.Equal(t, 3, c.NATS.Replicas)
	assert.Equal(t, "/etc/iotd/bus.creds", c.NATS.CredsFile)

	for cfg, want := range map[string]string{
		"backend: kafka": `"kafka": inprocess (the default) or nats`,
		"backend: nats":  "bus.url: required",
		"{backend: nats, url: x, retention: work}":       "a work queue cannot fan out",
		"{backend: nats, url: x, stream: a.b}":           "bus.stream",
		"{backend: nats, url: x, subject_prefix: 'a.>'}": "bus.subject_prefix",
		"{backend: nats, url: x, cert_file: c}":          "give both or neither",
	} {
		var c bus.Config
		require.NoError(t, yaml.Unmarshal([]byte(cfg), &c))
		assert.ErrorContains(t, c.Validate(), want, cfg)
	}
	var def bus.Config
	assert.NoError(t, def.Validate())
}
