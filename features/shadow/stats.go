package shadow

// Stats counts what the shadow did and what it refused, for `iotd status`.
type Stats struct {
	// Requests sent; Rejected got a non-zero result; Timeouts got none in
	// time; Busy were refused locally because MaxPending were waiting.
	Requests uint64 `json:"requests"`
	Rejected uint64 `json:"rejected"`
	Timeouts uint64 `json:"timeouts"`
	Busy     uint64 `json:"busy"`
	// Conflicts counts 5005 results that led to a re-read and a retry.
	Conflicts uint64 `json:"conflicts"`
	// DeltasApplied counts deltas handed to the handlers; Stale counts
	// pushed deltas dropped for a version not above the local one.
	DeltasApplied uint64 `json:"deltas_applied"`
	Stale         uint64 `json:"stale"`
	// Unregistered counts delta properties with no handler.
	Unregistered uint64 `json:"unregistered"`
	// HandlerErrors counts handlers that returned an error or panicked.
	HandlerErrors uint64 `json:"handler_errors"`
	// WatchDropped counts deltas not delivered to a slow watcher.
	WatchDropped uint64 `json:"watch_dropped"`
	// Malformed, UnknownType and TooLarge count messages dropped on
	// receipt; Orphaned counts results for no waiting request (late
	// results of timed-out requests, or another client's).
	Malformed   uint64 `json:"malformed"`
	UnknownType uint64 `json:"unknown_type"`
	TooLarge    uint64 `json:"too_large"`
	Orphaned    uint64 `json:"orphaned"`
}

// Stats returns a snapshot of the counters.
func (s *Shadow) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

func (s *Shadow) count(f func(*Stats)) {
	s.mu.Lock()
	f(&s.stats)
	s.mu.Unlock()
}
