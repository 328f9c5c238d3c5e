// Package plugins runs out-of-tree transport drivers as separate processes
// (hashicorp/go-plugin over gRPC, protocol in plugins/proto) and makes the
// drivers they serve look exactly like built-in ones.
//
// [Discover] lists the plugin binaries of a directory, [Load] starts one,
// and [Register] puts its drivers in a core.Registry. A remote driver's
// Dial returns a driver.Conn that follows the whole contract: deadlines are
// enforced in this process (and the write deadline is forwarded to the
// plugin), Close unblocks pending calls, io.EOF and ErrReset stay apart,
// datagrams keep their boundaries, and every contract sentinel survives the
// boundary for errors.Is.
//
// A plugin that crashes fails every open connection's pending and later
// calls at once with a [*GoneError] (which wraps driver.ErrBadConn), and is
// restarted with jittered backoff; a Dial made meanwhile waits for the
// restart, bounded by its context, so a core.Link reconnects by itself.
// Plugin processes never outlive the host: Close stops them, and on Linux
// the kernel kills them (Pdeathsig) if the host dies; the SDK also exits a
// plugin whose parent changed.
package plugins
