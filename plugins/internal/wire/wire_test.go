package wire_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/iotd/iotd/plugins/internal/wire"
)

// TestStreamWindow: two sends of a driver with a send limit, within
// MinWindow and WriteWindow; WriteWindow for a driver with none.
func TestStreamWindow(t *testing.T) {
	for _, tt := range []struct{ maxPayload, want int64 }{
		{0, wire.WriteWindow},
		{-1, wire.WriteWindow},
		{64, wire.MinWindow},
		{1024, 2048},
		{1460, 2920},
		{1500, 3000},
		{2048, 4096},
		{1 << 20, wire.WriteWindow},
	} {
		assert.Equal(t, tt.want, wire.StreamWindow(tt.maxPayload), "MaxPayload %d", tt.maxPayload)
	}
}
