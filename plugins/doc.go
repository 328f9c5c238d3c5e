// Package plugins runs out-of-tree transport drivers as separate processes
// (hashicorp/go-plugin over gRPC, protocol in plugins/proto) and makes the
// drivers they serve look exactly like built-in ones.
//
// [Discover] lists the plugin binaries of a directory, [Load] starts one,
// and [Register] puts its drivers in a core.Registry. A remote driver's
// Dial returns a driver.Conn that follows the whole contract: deadlines are
// enforced in this process, Close unblocks pending calls, io.EOF and
// ErrReset stay apart, datagrams keep their boundaries, and every contract
// sentinel survives the boundary for errors.Is.
//
// A connection's data does not go over gRPC but over Unix sockets of its
// own, in go-plugin's private directory, opened with a one-time token that
// travels over the mutual-TLS gRPC connection. A stream's bytes go as they
// are on one socket, with its Conn's errors and the half-close on a second,
// framed one; a datagram conn has the framed one only, with read credit
// (see plugins/internal/wire). A stream Write returns once the bytes are
// within the plugin's write window (socket buffer), which drains as the
// plugin's Conn takes them: a slow driver fills the window and Write then
// waits, bounded by the write deadline, as a kernel's socket buffer makes
// it wait. The window follows the driver's send size: two sends when the
// Conn reports a MaxPayload (a modem's send limit), so that a deadline
// means what it would on the modem; 256 KiB otherwise. A write error of the Conn comes back on the next Write;
// Close lets the plugin write what the window holds (for at most 2 s)
// before it closes the Conn. A datagram Write returns the result of the
// plugin's Write of that datagram. The plugin reads ahead 512 KiB.
//
// The protocol is versioned: this package speaks version 2 only, and a
// plugin built with an older SDK (version 1) is refused at [Load] with an
// error wrapping [ErrProtocolVersion] that names both versions.
//
// A plugin that crashes fails every open connection's pending and later
// calls at once with a [*GoneError] (which wraps driver.ErrBadConn), and is
// restarted with jittered backoff; a Dial made meanwhile waits for the
// restart, bounded by its context, so a core.Link reconnects by itself.
// Plugin processes never outlive the host: Close stops them, and on Linux
// the kernel kills them (Pdeathsig) if the host dies; the SDK also exits a
// plugin whose parent changed.
package plugins
