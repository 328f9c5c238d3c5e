package hubtest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConnectAndPublish(t *testing.T) {
	hub := StartHub(t, nil)
	d := Connect(t, hub, "PHT0000001", "dev1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, d.Bus.CloudPublish(ctx, "PHT0000001/dev1/event", []byte("hi"), 1))
	recs := hub.Messages("PHT0000001", "dev1")
	require.NotEmpty(t, recs)
	assert.Equal(t, "hi", recs[len(recs)-1].Payload)
	d.Stop()
	assert.False(t, d.Connected())
}
