package bus

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Serve hands each topic's messages to its handler, a slow handler on one
// topic does not hold up another, and stop returns only once the handlers
// have.
func TestServe(t *testing.T) {
	b := newBus(t)
	got := make(chan string, 4)
	release, started := make(chan struct{}), make(chan struct{})
	stop, err := b.Serve(context.Background(), map[string]func(*message.Message){
		"a": func(m *message.Message) { close(started); <-release; got <- "a:" + string(m.Payload) },
		"b": func(m *message.Message) { got <- "b:" + string(m.Payload) },
	})
	require.NoError(t, err)
	require.NoError(t, b.Publish("a", message.NewMessage(watermill.NewUUID(), []byte("1"))))
	require.NoError(t, b.Publish("b", message.NewMessage(watermill.NewUUID(), []byte("2"))))
	select {
	case v := <-got:
		assert.Equal(t, "b:2", v, "b is served while a's handler waits")
	case <-time.After(5 * time.Second):
		t.Fatal("b's message was not handled")
	}
	<-started // a's handler runs (on a loaded machine it may not have yet)
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("stop returned while a handler was still running")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-stopped
	assert.Equal(t, "a:1", <-got)
}
