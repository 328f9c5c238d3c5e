//go:build !linux

package outbox

// releaseMapping does nothing outside Linux: the RSS it trims is a Linux
// board's concern, and madvise's semantics for shared file mappings differ
// elsewhere.
func releaseMapping(addr uintptr, size int64) error { return nil }
