// Package wire is what both ends of the driver plugin protocol share: the
// go-plugin handshake and plugin set, the frames and limits of a
// connection's data channel, and the mapping between Go errors and the
// protocol's sentinel codes.
package wire
