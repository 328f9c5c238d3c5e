//go:build !race

package outbox

// raceEnabled: the race detector's shadow memory inflates VmRSS.
const raceEnabled = false
