package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/device"
	"github.com/iotd/iotd/feature"
)

// Several devices in one daemon: the devices: key of the configuration.

// DefaultDeviceName is the name of the device of a configuration without
// devices: (its only device), in the local API (/v1/devices/default/...)
// and the CLI's --device. A device's own name (device_info.json's
// deviceName) is not used: it may hold characters a name may not, and it
// is only known once device_info.json is read.
const DefaultDeviceName = "default"

// deviceName is what a name under devices: may be.
var deviceName = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)

// defaultStateDir is device.Config's default state_dir, under which a
// device of several without one keeps its state, in a directory of its
// name.
const defaultStateDir = "iotd-state"

// NamedDevice is one device of a configuration: its name and its keys.
type NamedDevice struct {
	Name   string
	Config *device.Config
}

// DeviceConfigs returns the devices of the configuration in name order:
// those under devices:, or the top-level one, named [DefaultDeviceName].
func (c *Config) DeviceConfigs() []NamedDevice {
	if c.Devices == nil {
		return []NamedDevice{{Name: DefaultDeviceName, Config: &c.Config}}
	}
	out := make([]NamedDevice, 0, len(c.Devices))
	for _, name := range slices.Sorted(maps.Keys(c.Devices)) {
		out = append(out, NamedDevice{Name: name, Config: c.Devices[name]})
	}
	return out
}

// devicesNode parses data and returns its top-level mapping and the value
// of its devices: key; both nil when there is no devices: key (or no
// mapping: the strict decoding then says what is wrong).
func devicesNode(data []byte, source string) (root, devs *yaml.Node, err error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, &core.ConfigError{Source: source, Msg: feature.YAMLError(err)}
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, nil, nil
	}
	root = doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "devices" {
			return root, root.Content[i+1], nil
		}
	}
	return nil, nil, nil
}

// ownKeys are the daemon's keys, the top level's beside devices:.
var ownKeys = []string{"socket", "log", "memory_limit", "plugins", "metrics", "devices"}

// deviceKeys are the keys of a device (device.Config's and features).
var deviceKeys = func() []string {
	keys := []string{"features"}
	t := reflect.TypeFor[device.Config]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			keys = append(keys, name)
		}
	}
	return keys
}()

// decodeDevices decodes a configuration with devices: (devs, in root):
// the daemon's own keys at the top, each device's under its name, as
// strictly as a single device's.
func (c *Config) decodeDevices(data []byte, source, dir string, root, devs *yaml.Node) error {
	c.Config.Dir, c.Config.File = dir, source
	bad := func(field string, line int, msg string) error {
		return &core.ConfigError{Source: source, Field: field, Msg: fmt.Sprintf("line %d: %s", line, msg)}
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := root.Content[i]
		if !slices.Contains(ownKeys, k.Value) && slices.Contains(deviceKeys, k.Value) {
			return bad(k.Value, k.Line, fmt.Sprintf("a device's key beside devices: — with devices: each device's keys go in its section (devices.NAME.%s); the top level keeps the daemon's own: socket, log, memory_limit, plugins, metrics", k.Value))
		}
	}
	var own struct {
		Socket      string        `yaml:"socket"`
		Log         LogConfig     `yaml:"log"`
		MemoryLimit int64         `yaml:"memory_limit"`
		Plugins     PluginsConfig `yaml:"plugins"`
		Metrics     MetricsConfig `yaml:"metrics"`
		Devices     yaml.Node     `yaml:"devices"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&own); err != nil && !errors.Is(err, io.EOF) {
		return &core.ConfigError{Source: source, Msg: feature.YAMLError(err)}
	}
	c.Socket, c.Log, c.MemoryLimit, c.Plugins, c.Metrics = own.Socket, own.Log, own.MemoryLimit, own.Plugins, own.Metrics
	if devs.Kind != yaml.MappingNode || len(devs.Content) == 0 {
		return bad("devices", devs.Line, "must map device names to device sections (devices: {a: {device_info: a.json}}), at least one")
	}
	c.Devices = map[string]*device.Config{}
	lines := map[string]deviceLines{}
	for i := 0; i+1 < len(devs.Content); i += 2 {
		k, v := devs.Content[i], devs.Content[i+1]
		name := k.Value
		if !deviceName.MatchString(name) {
			return bad("devices", k.Line, fmt.Sprintf("%q is not a device name: use 1 to 32 of a-z, 0-9, _ and -", name))
		}
		dc := &device.Config{}
		if err := device.DecodeAt(data, source, dir, []string{"devices", name}, dc, dc); err != nil {
			return inDevice(name, err)
		}
		if dc.StateDir == "" {
			dc.StateDir = filepath.Join(defaultStateDir, name)
		}
		c.Devices[name] = dc
		lines[name] = deviceLines{name: k.Line, stateDir: keyLine(v, "state_dir", k.Line), deviceInfo: keyLine(v, "device_info", k.Line),
			bus: keyLine(v, "bus", k.Line), outbox: keyLine(v, "outbox", k.Line)}
	}
	if err := c.checkDevices(lines); err != nil {
		err.Source = source
		return err
	}
	return nil
}

// deviceLines are the lines of a device's keys, for errors.
type deviceLines struct{ name, stateDir, deviceInfo, bus, outbox int }

// keyLine is the line of key in mapping m, or def when m lacks it.
func keyLine(m *yaml.Node, key string, def int) int {
	if m.Kind != yaml.MappingNode {
		return def
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i].Line
		}
	}
	return def
}

// inDevice puts a device's configuration error under devices.NAME.
func inDevice(name string, err error) error {
	var ce *core.ConfigError
	if !errors.As(err, &ce) {
		return fmt.Errorf("devices.%s: %w", name, err)
	}
	if ce.Field == "" {
		ce.Field = "devices." + name
	} else {
		ce.Field = "devices." + name + "." + ce.Field
	}
	return err
}

// validateDevices validates each device of Devices and that they do not
// collide, for a configuration built in code.
func (c *Config) validateDevices() error {
	top := c.Config
	top.Dir, top.File, top.Features = "", "", nil
	if !reflect.ValueOf(top).IsZero() {
		return &core.ConfigError{Source: "config", Field: "devices", Msg: "with devices, the top-level device keys must be unset: give each device its own"}
	}
	if len(c.Devices) == 0 {
		return &core.ConfigError{Source: "config", Field: "devices", Msg: "no device: give at least one, or leave devices unset"}
	}
	for _, nd := range c.DeviceConfigs() {
		if !deviceName.MatchString(nd.Name) {
			return &core.ConfigError{Source: "config", Field: "devices", Msg: fmt.Sprintf("%q is not a device name: use 1 to 32 of a-z, 0-9, _ and -", nd.Name)}
		}
		if nd.Config == nil {
			return &core.ConfigError{Source: "config", Field: "devices." + nd.Name, Msg: "no configuration"}
		}
		if err := nd.Config.Validate(); err != nil {
			return inDevice(nd.Name, err)
		}
	}
	if err := c.checkDevices(nil); err != nil {
		return err
	}
	return nil
}

// checkDevices refuses two devices with one state directory (or one
// inside the other's) or one device_info.json; lines, when known, place
// the error in the file.
func (c *Config) checkDevices(lines map[string]deviceLines) *core.ConfigError {
	nds := c.DeviceConfigs()
	at := func(line int) string {
		if line == 0 {
			return ""
		}
		return fmt.Sprintf("line %d: ", line)
	}
	for i, a := range nds {
		for _, b := range nds[i+1:] {
			da, db := filepath.Clean(a.Config.StateDirPath()), filepath.Clean(b.Config.StateDirPath())
			switch {
			case da == db:
				return &core.ConfigError{Source: "config", Field: "devices." + b.Name + ".state_dir", Msg: fmt.Sprintf(
					"%sdevices %s and %s share the state directory %s: give each its own state_dir (or none: then iotd-state/NAME)",
					at(lines[b.Name].stateDir), a.Name, b.Name, da)}
			case within(da, db) || within(db, da):
				return &core.ConfigError{Source: "config", Field: "devices." + b.Name + ".state_dir", Msg: fmt.Sprintf(
					"%sthe state directories of devices %s (%s) and %s (%s) nest: give each a directory of its own, outside the other's",
					at(lines[b.Name].stateDir), a.Name, da, b.Name, db)}
			}
			if ia, ib := filepath.Clean(a.Config.DeviceInfoPath()), filepath.Clean(b.Config.DeviceInfoPath()); ia == ib {
				return &core.ConfigError{Source: "config", Field: "devices." + b.Name + ".device_info", Msg: fmt.Sprintf(
					"%sdevices %s and %s are the same device (both %s): give each its own device_info",
					at(lines[b.Name].deviceInfo), a.Name, b.Name, ia)}
			}
			if err := checkNATS(a, b); err != nil {
				line := lines[b.Name].bus
				if err.Field == "outbox.stream" {
					line = lines[b.Name].outbox
				}
				err.Field = "devices." + b.Name + "." + err.Field
				err.Msg = at(line) + err.Msg
				return err
			}
		}
	}
	return nil
}

// checkNATS refuses two devices on one NATS server whose subjects overlap
// (one bus.subject_prefix, or one inside the other's) or whose outboxes
// would share a stream: each would take the other's messages.
func checkNATS(a, b NamedDevice) *core.ConfigError {
	ca, cb := a.Config.Bus, b.Config.Bus
	if ca.Backend != "nats" || cb.Backend != "nats" {
		return nil
	}
	server := sharedServer(ca.NATS.URL, cb.NATS.URL)
	if server == "" {
		return nil
	}
	pa, pb := ca.NATS.WithDefaults().SubjectPrefix, cb.NATS.WithDefaults().SubjectPrefix
	if pa == pb || strings.HasPrefix(pa, pb+".") || strings.HasPrefix(pb, pa+".") {
		return &core.ConfigError{Source: "config", Field: "bus.subject_prefix", Msg: fmt.Sprintf(
			"devices %s and %s share the NATS server %s and their subjects (bus.subject_prefix %s and %s): each would take the other's messages; give each a prefix of its own, neither inside the other (iotd.%s, iotd.%s)",
			a.Name, b.Name, server, pa, pb, a.Name, b.Name)}
	}
	if a.Config.Outbox.Backend == device.BackendJetStream && b.Config.Outbox.Backend == device.BackendJetStream {
		if sa, sb := a.Config.OutboxStream(), b.Config.OutboxStream(); sa == sb {
			return &core.ConfigError{Source: "config", Field: "outbox.stream", Msg: fmt.Sprintf(
				"devices %s and %s share the NATS server %s and the outbox stream %s: each would send the other's messages; give each its own outbox.stream (or leave it unset: OUTBOX_ and the subject prefix)",
				a.Name, b.Name, server, sa)}
		}
	}
	return nil
}

// sharedServer returns a server (host:port, never credentials) that two
// bus.url lists (comma-separated) both name, "" when none.
func sharedServer(a, b string) string {
	host := func(s string) string {
		s = strings.TrimSpace(s)
		if !strings.Contains(s, "://") {
			s = "nats://" + s
		}
		u, err := url.Parse(s)
		if err != nil || u.Hostname() == "" {
			return ""
		}
		port := u.Port()
		if port == "" {
			port = "4222"
		}
		return net.JoinHostPort(strings.ToLower(u.Hostname()), port)
	}
	for ua := range strings.SplitSeq(a, ",") {
		for ub := range strings.SplitSeq(b, ",") {
			if ha := host(ua); ha != "" && ha == host(ub) {
				return ha
			}
		}
	}
	return ""
}

// within reports whether path p is inside directory dir.
func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// checkIdentities refuses two devices with the same product and device
// name (client id), which the hub would let only one of connect at a time.
func checkIdentities(units []*Unit) error {
	seen := map[string]string{}
	for _, u := range units {
		id := u.dev.Identity().ClientID()
		if other, ok := seen[id]; ok {
			return &core.ConfigError{Source: u.cfg.Source(), Field: "devices." + u.name + ".device_info", Msg: fmt.Sprintf(
				"devices %s and %s are the same device %s (%s and %s): the hub keeps one connection per device, so they would take turns; give each its own identity",
				other, u.name, id, units[slices.IndexFunc(units, func(x *Unit) bool { return x.name == other })].cfg.DeviceInfoPath(), u.cfg.DeviceInfoPath())}
		}
		seen[id] = u.name
	}
	return nil
}
