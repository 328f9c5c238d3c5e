package udev

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The keys the rules may use, with the operators udev allows for each
// (udev(7)); udevadm verify needs systemd 254, newer than Debian 12's.
var allowed = map[string]string{
	"ACTION": "== !=", "SUBSYSTEM": "== !=", "SUBSYSTEMS": "== !=", "ATTR": "== != =", "ATTRS": "== !=",
	"ENV": "== != =", "IMPORT": "=", "SYMLINK": "== != = += -=", "GOTO": "=", "LABEL": "=",
}

func TestRulesSyntax(t *testing.T) {
	rules, err := Parse(Rules)
	require.NoError(t, err)
	require.NotEmpty(t, rules)
	labels, gotos := map[string]bool{}, map[string]bool{}
	for _, r := range rules {
		matches, assigns := 0, 0
		for _, k := range r.Keys {
			ops, ok := allowed[k.Name]
			require.True(t, ok, "line %d: key %s", r.Line, k.Name)
			assert.Contains(t, strings.Fields(ops), k.Op, "line %d: %s%s", r.Line, k.Name, k.Op)
			switch k.Name {
			case "ATTR", "ATTRS", "ENV", "IMPORT":
				assert.NotEmpty(t, k.Attr, "line %d: %s needs {name}", r.Line, k.Name)
			default:
				assert.Empty(t, k.Attr, "line %d: %s takes no {name}", r.Line, k.Name)
			}
			switch {
			case k.Name == "LABEL":
				labels[k.Value] = true
			case k.Name == "GOTO":
				gotos[k.Value] = true
			}
			if k.Op == "==" || k.Op == "!=" {
				matches++
			} else {
				assigns++
			}
		}
		if r.Keys[0].Name != "LABEL" {
			assert.Positive(t, matches, "line %d: a rule without a match applies to every device", r.Line)
			assert.Positive(t, assigns, "line %d: a rule that does nothing", r.Line)
		}
		// A rule that names a port names a known vendor's, and keeps
		// ModemManager off it.
		for _, k := range r.Keys {
			if k.Name == "SYMLINK" {
				assert.NotEmpty(t, r.match("ENV", "ID_VENDOR_ID"), "line %d", r.Line)
				assert.True(t, strings.HasPrefix(k.Value, "iotd-modem-"), "line %d", r.Line)
				assert.Contains(t, r.Keys, Key{Name: "ENV", Attr: "ID_MM_DEVICE_IGNORE", Op: "=", Value: "1"}, "line %d", r.Line)
			}
		}
	}
	for g := range gotos {
		assert.True(t, labels[g], "GOTO %q has no LABEL", g)
	}
	_, err = Parse(`ENV{ID_VENDOR_ID}=="2c7c" SYMLINK+="x"`)
	assert.Error(t, err, "a missing comma")
	_, err = Parse(`ENV{ID_VENDOR_ID}==2c7c, SYMLINK+="x"`)
	assert.Error(t, err, "an unquoted value")
}

func TestNames(t *testing.T) {
	for _, c := range []struct {
		vendor, product string
		iface           int
		want            string
	}{
		{"2c7c", "0125", 2, "/dev/iotd-modem-quectel-at"},  // EC25
		{"2c7c", "0296", 3, "/dev/iotd-modem-quectel-at2"}, // BG96
		{"1e0e", "9001", 2, "/dev/iotd-modem-simcom-at"},
		{"1546", "1141", 2, "/dev/iotd-modem-ublox-if02"},
		{"303a", "1001", 0, "/dev/iotd-modem-espressif"},
		{"2C7C", "0125", 2, "/dev/iotd-modem-quectel-at"},
	} {
		got, ok := Name(c.vendor, c.product, c.iface)
		assert.True(t, ok, "%+v", c)
		assert.Equal(t, c.want, got)
	}
	for _, c := range []struct {
		vendor, product string
		iface           int
	}{{"2c7c", "0125", 0}, {"1e0e", "9011", 2}, {"1a86", "7523", 0}, {"1546", "1141", -1}} {
		_, ok := Name(c.vendor, c.product, c.iface)
		assert.False(t, ok, "%+v", c)
	}
}

func TestKnownDevice(t *testing.T) {
	assert.True(t, KnownDevice("2c7c", "0125"))
	assert.True(t, KnownDevice("1E0E", "9001"))
	assert.False(t, KnownDevice("1e0e", "9011"), "SIM7600 in another USB composition")
	assert.False(t, KnownDevice("10c4", "ea60"), "a CP210x bridge")
}

func TestSuggest(t *testing.T) {
	line := Suggest("1A86", "7523", 0)
	assert.Equal(t, `SUBSYSTEM=="tty", ENV{ID_VENDOR_ID}=="1a86", ENV{ID_MODEL_ID}=="7523", ENV{ID_USB_INTERFACE_NUM}=="00", SYMLINK+="iotd-modem-1a86-7523-if00", ENV{ID_MM_DEVICE_IGNORE}="1"`, line)
	// The line is valid in the rules' own syntax, and once added the port
	// has its name.
	rules, err := Parse(line)
	require.NoError(t, err)
	require.Len(t, rules, 1)
	assert.Equal(t, "iotd-modem-1a86-7523-if00", rules[0].symlink())
	assert.Equal(t, `SUBSYSTEM=="tty", ENV{ID_VENDOR_ID}=="1a86", ENV{ID_MODEL_ID}=="7523", SYMLINK+="iotd-modem-1a86-7523", ENV{ID_MM_DEVICE_IGNORE}="1"`, Suggest("1a86", "7523", -1))
	// Interface 10 is "0a", as usb_id writes it.
	assert.Contains(t, Suggest("12d1", "1506", 10), `ENV{ID_USB_INTERFACE_NUM}=="0a"`)
}
