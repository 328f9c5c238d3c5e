package mqtt

import (
	"strconv"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"

	"github.com/iotd/iotd/bus"
)

func TestOutcomesKeepTheLatestOfTheLastOnes(t *testing.T) {
	o := newOutcomes()
	_, ok := o.lookup("never")
	assert.False(t, ok, "an empty ring finds nothing")

	o.remember("a", bus.Stored)
	o.remember("b", bus.Refused)
	o.remember("a", bus.Acknowledged) // a later outcome of the same message wins
	res, ok := o.lookup("a")
	assert.True(t, ok)
	assert.Equal(t, bus.Acknowledged, res)
	res, ok = o.lookup("b")
	assert.True(t, ok)
	assert.Equal(t, bus.Refused, res)

	// Fill the ring twice over: the first ones are gone, the last
	// recentOutcomes are found, across the wrap.
	for i := range 2 * recentOutcomes {
		o.remember("m"+strconv.Itoa(i), results[i%len(results)])
	}
	for _, id := range []string{"a", "b", "m0", "m" + strconv.Itoa(recentOutcomes-1)} {
		_, ok := o.lookup(id)
		assert.False(t, ok, "%s should have been overwritten", id)
	}
	for i := recentOutcomes; i < 2*recentOutcomes; i++ {
		res, ok := o.lookup("m" + strconv.Itoa(i))
		if assert.True(t, ok, "m%d", i) {
			assert.Equal(t, results[i%len(results)], res, "m%d", i)
		}
	}
	assert.Len(t, o.ring, recentOutcomes, "the ring never grows past its size")
}

// What a device pays for them at most: 16 bytes a message.
func TestOutcomeSize(t *testing.T) {
	assert.EqualValues(t, 16, unsafe.Sizeof(outcome{}))
}
