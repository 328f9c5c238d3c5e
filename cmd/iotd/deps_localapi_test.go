package main

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The local API's wire types and client are standard library only: a
// program that talks to a running iotd links none of the daemon, the bus,
// watermill or the features.
func TestLocalAPIIsStdlibOnly(t *testing.T) {
	deps := goList(t, "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "github.com/iotd/iotd/localapi")
	assert.Equal(t, []string{"github.com/iotd/iotd/localapi"}, deps)
	for _, d := range goList(t, "-deps", "github.com/iotd/iotd/localapi") {
		for _, banned := range []string{"github.com/iotd/iotd/daemon", "github.com/iotd/iotd/bus", "github.com/iotd/iotd/features", "github.com/ThreeDotsLabs/watermill"} {
			assert.False(t, d == banned || strings.HasPrefix(d, banned+"/"), "localapi links %s", d)
		}
	}
}

// The CLI's client commands talk to the daemon through localapi only: no
// file of theirs imports the daemon, the bus, a feature or core (iotd run,
// init, register and conformance, in other files, do).
func TestClientCommandsUseOnlyLocalAPI(t *testing.T) {
	client := []string{"status.go", "sub.go", "unsub.go", "pub.go", "drivers.go", "shadow.go", "rrpc.go", "ota.go",
		"gateway.go", "outbox.go", "at.go"}
	for _, name := range client {
		f, err := parser.ParseFile(token.NewFileSet(), filepath.Join("..", "..", "iotdcli", name), nil, parser.ImportsOnly)
		require.NoError(t, err, "a client command's file is gone; update this list")
		for _, imp := range f.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			require.NoError(t, err)
			if strings.HasPrefix(path, "github.com/iotd/iotd/") {
				assert.Equal(t, "github.com/iotd/iotd/localapi", path, "iotdcli/%s imports %s", name, path)
			}
		}
	}
}
