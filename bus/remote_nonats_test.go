//go:build !iotd_nats

package bus_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/bus/natsconf"
)

// Without the iotd_nats tag, backend nats says how to get it.
func TestNATSBackendNeedsTheTag(t *testing.T) {
	_, err := bus.New(bus.Config{Backend: "nats", NATS: natsconf.Config{URL: "nats://127.0.0.1:1"}}, nil)
	assert.ErrorContains(t, err, "-tags iotd_nats")
}
