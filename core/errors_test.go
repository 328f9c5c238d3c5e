package core

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/iotd/iotd/core/driver"
)

func TestClassOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Class
	}{
		{"nil", nil, ClassUnknown},
		{"plain", errors.New("x"), ClassUnknown},
		{"refused in op error", &OpError{Op: "dial", Driver: "tcp", Err: fmt.Errorf("%w: econnrefused", driver.ErrRefused)}, ClassUnavailable},
		{"handshake", fmt.Errorf("x: %w", driver.ErrHandshake), ClassUnauthenticated},
		{"deadline", context.DeadlineExceeded, ClassDeadlineExceeded},
		{"canceled", fmt.Errorf("dial: %w", context.Canceled), ClassCanceled},
		{"config", &ConfigError{Source: "device_info.json", Field: "deviceName", Msg: "53 characters, the limit is 48"}, ClassInvalidConfig},
		{"not supported", driver.ErrNotSupported, ClassNotSupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, ClassOf(tt.err))
		})
	}
}

func TestErrorTexts(t *testing.T) {
	e := &OpError{Op: "dial", Driver: "tls", Addr: "h:8883", Err: errors.New("boom")}
	assert.Equal(t, "dial via tls h:8883: boom", e.Error())
	c := &ConfigError{Source: "device_info.json", Field: "deviceName", Msg: "53 characters, the limit is 48"}
	assert.Equal(t, "device_info.json: deviceName: 53 characters, the limit is 48", c.Error())
}
