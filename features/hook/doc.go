// Package hook runs a local command for a message: the way iotd hands RRPC
// requests and broadcasts to a program of the user's that is not a local API
// client.
//
// The command is an argv executed directly (no shell). The message payload is
// written to its stdin; metadata is passed in IOTD_* environment variables
// on top of iotd's own environment; its stdout, up to a limit, is the result
// (the RRPC reply); its stderr is logged. A command that runs longer than the
// timeout is killed together with its process group, so a script's children
// die with it. At most Concurrency commands run at once; further calls wait
// for a slot until their context ends.
package hook
