// Package outbox is the durable outbox of QoS 1 publishes: messages a local
// application handed to iotd wait in a file until the cloud acknowledged
// them, across restarts, crashes and reconnects. The MQTT uplink Appends a
// message before it tells the publisher "stored", Removes it on PUBACK,
// replays Pending in order after a restart, and Parks a message that keeps
// ending the MQTT session as a dead letter, which `iotd outbox` lists
// (Dead), Retries or Drops.
//
// # Guarantees
//
//   - At least once: a message whose Append returned nil is pending until
//     Remove, Park or RemoveOldest takes it out, and stays so across Close
//     and Open and, per the sync policy below, across crashes. A Remove lost
//     in a crash only means the message is sent again.
//   - Order: Seq is assigned in commit order, strictly increasing within a
//     file and never reused (the counter is stored); Pending is in Seq order.
//   - Bounds: at most Options.MaxMessages pending messages and
//     Options.MaxBytes of their payload plus topic bytes; Append and Retry
//     past them fail with ErrFull, naming both bounds and the usage. At most
//     Options.MaxDeadLetters dead letters; parking one more drops the oldest.
//   - Memory: only each pending message's Meta is kept in memory; payloads
//     are read from the file when asked for (Payload), and on Linux the
//     pages read are handed back to the kernel so they do not stay in RSS.
//     Removing a message does not read its payload.
//   - Failures: a failed write or fsync (ENOSPC, EIO) fails the calls of
//     that commit with ErrDisk and changes nothing stored; the outbox stays
//     usable. A file that is not an outbox or is damaged is refused with
//     ErrCorrupt and never rewritten; a single record that fails its
//     checksum is moved to the dead letters at Open. A file locked by
//     another process (another iotd on the same state dir) is refused with
//     ErrLocked within about a second.
//   - Concurrency: every method is safe for concurrent use.
//
// # Sync policies
//
// With SyncAlways (the default) a call that writes returns after its commit
// is fsynced; concurrent calls share one commit and one fsync (group
// commit), so throughput grows with concurrency. With SyncInterval a write
// returns once it is in the operating system's page cache and the file is
// fsynced at most every Options.SyncInterval and on Close: a process crash,
// even SIGKILL, loses nothing, but a power loss or kernel crash loses up to
// one interval and may, since bbolt relies on fsync to order its pages,
// leave a file that Open refuses as corrupt. SyncNever never fsyncs (tests
// and benchmarks). Whatever the policy, Remove and RemoveOldest never wait
// for the disk: their deletions are written with the next commit or within
// Options.SyncInterval, and fsynced as that commit is.
//
// # Which calls wait for the disk
//
// Append, AppendBatch, SetAttempts, Park, Retry and Drop wait for their
// commit (and, with SyncAlways, its fsync). Payload and Dead read the file. Pending, Usage,
// Remove and RemoveOldest do not touch the disk (Usage stats the file).
//
// # File format
//
// The file is a bbolt database with three buckets: "pending" and "dead" map
// a message's Seq (8 bytes, big-endian, so bbolt's order is Seq order) to
// its record: a record up to 1 KiB as a plain value, a larger one as a
// bucket of its own holding the record under "r", so that an Append writes
// the record's own pages and a deletion frees them without reading them or
// the records beside them (see layout.go); "meta" holds "format" (one
// byte, the layout version, 2) and "seq" (the highest Seq handed out, 8
// bytes big-endian). Version 1 stored every record as a plain value; Open
// converts such a file, and an older iotd refuses a converted one. A record is
// version byte, Seq, QoS, acceptance and parking times, attempts, the
// lengths and bytes of topic, reason and payload, and a CRC-32C over all of
// it; see record.go.
package outbox
