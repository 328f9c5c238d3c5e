// Package packaging builds what iotd's packages install besides the binary
// (see nfpm.yaml beside this file): the configuration file, derived from
// the annotated sample so that the two cannot drift apart. `make package`
// runs ./packaging/mkconfig.
package packaging

import (
	"fmt"
	"strings"
)

// Packaged paths.
const (
	ConfigFile = "/etc/iotd/iotd.yaml"
	DeviceInfo = "/etc/iotd/device_info.json"
	StateDir   = "/var/lib/iotd"       // the unit's StateDirectory, 0700
	Socket     = "/run/iotd/iotd.sock" // in the unit's RuntimeDirectory
	header     = `# /etc/iotd/iotd.yaml: the configuration of the iotd service (iotd.service),
# installed by the iotd package. Your edits are kept when the package is
# upgraded. After an edit: systemctl reload iotd (log.level and memory_limit
# apply at once; the log names any other change, which needs
# systemctl restart iotd). Check a file with:
#   iotd run --check --config /etc/iotd/iotd.yaml
# Put the device's identity in /etc/iotd/device_info.json (owner root, group
# iotd, mode 0640): the service runs as the user iotd, which can read but
# not write /etc (dynamic registration: run sudo iotd register --config
# /etc/iotd/iotd.yaml once, before starting the service).
#
`
)

// Config returns the packaged configuration: sample (the annotated
// iotd.sample.yaml) with the packaged device_info, state_dir and socket,
// under a header for the installed file. It fails if the sample no longer
// has one of the lines it replaces.
func Config(sample string) (string, error) {
	for _, r := range []struct{ old, new string }{
		{"\ndevice_info: device_info.json\n", "\ndevice_info: " + DeviceInfo + "\n"},
		{"\nstate_dir: iotd-state\n", "\nstate_dir: " + StateDir + "\n"},
		{"\nsocket: /run/iotd.sock\n", "\nsocket: " + Socket + "   # `sudo iotd ...` finds it (the default for root while /run/iotd exists)\n"},
	} {
		if n := strings.Count(sample, r.old); n != 1 {
			return "", fmt.Errorf("packaging: the sample has %d lines %q, want 1", n, strings.TrimSpace(r.old))
		}
		sample = strings.Replace(sample, r.old, r.new, 1)
	}
	return header + sample, nil
}
