// Package cli is the command-line front end of the conformance suite,
// "iotd conformance": it certifies a driver registered in the binary
// (--driver) or a plugin binary (--plugin), prints progress and a summary,
// writes JUnit XML and the JSON certificate, and maps the verdict to an
// exit status. cmd/iotd wraps [Main] in a cobra command.
package cli
