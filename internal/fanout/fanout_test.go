package fanout

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSet(t *testing.T) {
	var s Set[int]
	ctx, cancel := context.WithCancel(context.Background())
	a := s.Subscribe(ctx, 1)
	b := s.Subscribe(context.Background(), 2)
	assert.Equal(t, 2, s.Len())

	d, x := s.Send(1)
	assert.Equal(t, 2, d)
	assert.Equal(t, 0, x)
	d, x = s.Send(2) // a's buffer of one is full: a misses it, b does not
	assert.Equal(t, 1, d)
	assert.Equal(t, 1, x)
	assert.Equal(t, 1, <-a)
	assert.Equal(t, []int{1, 2}, []int{<-b, <-b})

	cancel()
	_, open := <-a
	assert.False(t, open, "a closes when its context ends")
	assert.Equal(t, 1, s.Len(), "and leaves the set")

	s.Close()
	_, open = <-b
	assert.False(t, open, "Close closes every channel")
	_, open = <-s.Subscribe(context.Background(), 1)
	assert.False(t, open, "a subscriber after Close gets a closed channel")
	d, x = s.Send(3)
	assert.Zero(t, d+x)
}
