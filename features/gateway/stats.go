package gateway

// Stats counts what the gateway did and what it refused, for `iotd status`.
type Stats struct {
	// Requests sent; Succeeded and Rejected count per-sub-device results
	// (0 and non-zero); Timeouts count sub-devices (or whole requests)
	// that got no result in time.
	Requests  uint64 `json:"requests"`
	Succeeded uint64 `json:"succeeded"`
	Rejected  uint64 `json:"rejected"`
	Timeouts  uint64 `json:"timeouts"`
	// Restores count sub-devices brought back online at start or after a
	// reconnect; RestoreFailures those that were not.
	Restores        uint64 `json:"restores"`
	RestoreFailures uint64 `json:"restore_failures"`
	// Malformed, UnknownType and TooLarge count result messages dropped;
	// BadEntries count entries skipped inside otherwise valid results.
	Malformed   uint64 `json:"malformed"`
	UnknownType uint64 `json:"unknown_type"`
	TooLarge    uint64 `json:"too_large"`
	BadEntries  uint64 `json:"bad_entries"`
	// UnknownSubDevice counts results for sub-devices this gateway does
	// not know; Orphaned results for known ones nobody waited for (late
	// results of timed-out operations).
	UnknownSubDevice uint64 `json:"unknown_sub_device"`
	Orphaned         uint64 `json:"orphaned"`
	// Online is the number of sub-devices online now.
	Online int `json:"online"`
}

// Stats returns a snapshot of the counters.
func (g *Gateway) Stats() Stats {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.stats
	for _, s := range g.subs {
		if s.online {
			st.Online++
		}
	}
	return st
}

func (g *Gateway) count(f func(*Stats)) {
	g.mu.Lock()
	f(&g.stats)
	g.mu.Unlock()
}
