package mqtt

import (
	"hash/maphash"

	"github.com/iotd/iotd/bus"
)

// recentOutcomes is how many finished messages a withdrawal can still find.
const recentOutcomes = 1024

// outcomes keeps the results of the last recentOutcomes finished messages,
// for a withdrawal that crossed its message's reply. It holds a 64-bit hash
// of each id, not the id: 16 bytes a message in one ring that is never
// reallocated once full, where a map of ids took about 64 bytes a message
// and its churn kept more (a fleet of 10 000 devices held hundreds of MB in
// it). Withdrawals are rare (a publisher that gave up), so a lookup scans
// the ring; two ids whose hashes collide (odds about 2^-54 in a full ring)
// would find each other's result. Not safe for concurrent use: the
// Uplink's mu guards it.
type outcomes struct {
	seed maphash.Seed
	ring []outcome // grows to recentOutcomes, then the oldest is overwritten
	next int       // where the next one goes once the ring is full
}

type outcome struct {
	sum uint64
	res uint8 // an index into results
}

// results are the outcomes a finished message can have.
var results = [...]bus.Result{bus.Acknowledged, bus.Stored, bus.Refused, bus.NotSent}

func newOutcomes() outcomes { return outcomes{seed: maphash.MakeSeed()} }

// remember records res as id's outcome; a later one for the same id wins.
func (o *outcomes) remember(id string, res bus.Result) {
	code := uint8(len(results))
	for i, r := range results {
		if r == res {
			code = uint8(i)
		}
	}
	e := outcome{sum: maphash.String(o.seed, id), res: code}
	if len(o.ring) < recentOutcomes {
		o.ring = append(o.ring, e)
		return
	}
	o.ring[o.next] = e
	o.next = (o.next + 1) % recentOutcomes
}

// lookup returns id's latest outcome, if it is among the recent ones.
func (o *outcomes) lookup(id string) (bus.Result, bool) {
	sum := maphash.String(o.seed, id)
	n := len(o.ring)
	for i := range n { // newest first
		e := o.ring[(o.next-1-i+2*n)%n]
		if e.sum == sum && int(e.res) < len(results) {
			return results[e.res], true
		}
	}
	return "", false
}
