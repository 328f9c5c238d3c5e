// Package peers finds the programs some tests run against — mosquitto,
// libcoap — and decides what happens when one is missing: on a developer's
// machine the test is skipped and the skip recorded, so that `make test`
// ends by naming every skipped test and the one command that installs
// what they need; under CI=true the test fails, because CI must install
// its peers (.ci/run does).
package peers

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Peer is a program a test needs and the Debian package that has it.
type Peer struct {
	Program string
	Package string
}

// The peers of iotd's tests.
var (
	Mosquitto    = Peer{Program: "mosquitto", Package: "mosquitto"}
	CoAPClient   = Peer{Program: "coap-client-openssl", Package: "libcoap3-bin"}
	CoAPServer   = Peer{Program: "coap-server-openssl", Package: "libcoap3-bin"}
	mosquittoDir = "/usr/sbin" // Debian's mosquitto, outside a user's PATH
)

// LogEnv names the file skips are appended to (set by `make test`).
const LogEnv = "IOTD_SKIPPED_LOG"

// Need returns the path of p's program. When it is missing the test fails
// under CI=true and is skipped (and recorded) otherwise.
func Need(t testing.TB, p Peer) string {
	t.Helper()
	path, err := exec.LookPath(p.Program)
	if err != nil && p == Mosquitto {
		if _, serr := os.Stat(filepath.Join(mosquittoDir, p.Program)); serr == nil {
			return filepath.Join(mosquittoDir, p.Program)
		}
	}
	if err == nil {
		return path
	}
	Missing(t, p.Program+" is not installed", "apt-get install -y "+p.Package)
	return ""
}

// Missing fails the test under CI=true, else records it and skips it:
// what is missing and the command that provides it.
func Missing(t testing.TB, what, install string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true, where it must be there): %s", what, install)
	}
	record(t.Name(), what, install)
	t.Skipf("%s; `%s` to run this test", what, install)
}

// record appends "test<TAB>what<TAB>install" to the skip log, if any. One
// short write with O_APPEND: the test binaries of several packages append
// to the same file at once.
func record(test, what, install string) {
	path := os.Getenv(LogEnv)
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	clean := func(s string) string { return strings.NewReplacer("\t", " ", "\n", " ").Replace(s) }
	_, _ = fmt.Fprintf(f, "%s\t%s\t%s\n", clean(test), clean(what), clean(install))
}
