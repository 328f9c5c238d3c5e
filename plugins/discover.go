package plugins

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Prefix starts the file name of every driver plugin binary.
const Prefix = "iotd-driver-"

// Discover lists the driver plugins in dir, sorted by path. A plugin is a
// regular file (not a symbolic link, not a directory) whose name starts
// with "iotd-driver-", has no extension other than ".exe", and has an
// execute bit set. Anything else in dir is ignored, so that a README or a
// checksum file may sit beside the binaries. A missing dir is an error.
func Discover(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("plugins: discover: %w", err)
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		if !IsPluginName(name) || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil || info.Mode().Perm()&0o111 == 0 {
			continue
		}
		out = append(out, filepath.Join(dir, name))
	}
	slices.Sort(out)
	return out, nil
}

// IsPluginName reports whether a file name follows the plugin naming rule
// of [Discover]: "iotd-driver-" then at least one character, and no
// extension but ".exe".
func IsPluginName(name string) bool {
	rest, ok := strings.CutPrefix(name, Prefix)
	rest = strings.TrimSuffix(rest, ".exe")
	return ok && rest != "" && !strings.ContainsAny(rest, "./\\") && !strings.HasPrefix(rest, "-")
}
