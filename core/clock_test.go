package core

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestClockOffset(t *testing.T) {
	var c Clock
	assert.True(t, c.LastSync().IsZero())
	assert.WithinDuration(t, time.Now(), c.Now(), time.Minute)
	c.SetOffset(48 * time.Hour)
	assert.Equal(t, 48*time.Hour, c.Offset())
	assert.WithinDuration(t, time.Now().Add(48*time.Hour), c.Now(), time.Minute)
	assert.False(t, c.LastSync().IsZero())
}
