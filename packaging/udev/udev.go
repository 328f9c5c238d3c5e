// Package udev holds iotd's udev rules for USB modems (60-iotd-modems.rules,
// installed by the packages) and what the CLI needs from them: which
// ports they name, and the rule line for a modem they do not know.
package udev

import (
	_ "embed"
	"fmt"
	"regexp"
	"strings"
)

// Rules is 60-iotd-modems.rules.
//
//go:embed 60-iotd-modems.rules
var Rules string

// RulesFile is where the packages install [Rules].
const RulesFile = "/usr/lib/udev/rules.d/60-iotd-modems.rules"

// LocalRulesFile is where a user adds modems the packaged rules do not
// know: it sorts after [RulesFile], so it sees what that file imported.
const LocalRulesFile = "/etc/udev/rules.d/61-iotd-local.rules"

// Key is one key of a rule: NAME{attr} OP "value".
type Key struct {
	Name, Attr, Op, Value string
}

// Rule is one rule line, its keys in order.
type Rule struct {
	Line int
	Keys []Key
}

var keyRE = regexp.MustCompile(`^([A-Z_]+)(?:\{([^}]+)\})?(==|!=|\+=|-=|:=|=)"([^"]*)"$`)

// Parse splits udev rules into rules and keys (comments and blank lines
// skipped, backslash continuations joined). It checks the syntax of each
// key, not what udev would do.
func Parse(text string) ([]Rule, error) {
	var out []Rule
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		n := i + 1
		line := strings.TrimSpace(lines[i])
		for strings.HasSuffix(line, `\`) && i+1 < len(lines) {
			i++
			line = strings.TrimSuffix(line, `\`) + " " + strings.TrimSpace(lines[i])
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r := Rule{Line: n}
		for _, f := range strings.Split(line, ", ") {
			m := keyRE.FindStringSubmatch(strings.TrimSpace(f))
			if m == nil {
				return nil, fmt.Errorf("line %d: %q is not KEY==\"value\" or KEY=\"value\"", n, f)
			}
			r.Keys = append(r.Keys, Key{Name: m[1], Attr: m[2], Op: m[3], Value: m[4]})
		}
		out = append(out, r)
	}
	return out, nil
}

// match returns the value a rule matches key (with ==) against, "" when
// it does not match on it.
func (r Rule) match(name, attr string) string {
	for _, k := range r.Keys {
		if k.Name == name && k.Attr == attr && k.Op == "==" {
			return k.Value
		}
	}
	return ""
}

// symlink is the name the rule gives, "" when none.
func (r Rule) symlink() string {
	for _, k := range r.Keys {
		if k.Name == "SYMLINK" {
			return k.Value
		}
	}
	return ""
}

// Name returns the stable /dev name the packaged rules give the port of
// the USB modem vendor:product (four hex digits each) on interface iface,
// and false when they give it none.
func Name(vendor, product string, iface int) (string, bool) {
	rules, err := Parse(Rules)
	if err != nil {
		return "", false
	}
	ifnum := fmt.Sprintf("%02x", iface)
	for _, r := range rules {
		link := r.symlink()
		v, p, i := r.match("ENV", "ID_VENDOR_ID"), r.match("ENV", "ID_MODEL_ID"), r.match("ENV", "ID_USB_INTERFACE_NUM")
		if link == "" || !strings.EqualFold(v, vendor) || (p != "" && !strings.EqualFold(p, product)) || (i != "" && i != ifnum) {
			continue
		}
		if iface < 0 && strings.Contains(link, "$env{ID_USB_INTERFACE_NUM}") {
			continue
		}
		return "/dev/" + strings.ReplaceAll(link, "$env{ID_USB_INTERFACE_NUM}", ifnum), true
	}
	return "", false
}

// KnownDevice reports whether the packaged rules know the USB device
// vendor:product: they keep ModemManager off it and name its AT ports
// (not every port: a modem's DIAG and NMEA ports have no name).
func KnownDevice(vendor, product string) bool {
	rules, err := Parse(Rules)
	if err != nil {
		return false
	}
	for _, r := range rules {
		v, p := r.match("ENV", "ID_VENDOR_ID"), r.match("ENV", "ID_MODEL_ID")
		if v != "" && strings.EqualFold(v, vendor) && (p == "" || strings.EqualFold(p, product)) {
			return true
		}
	}
	return false
}

// Suggest is the rule line that names the port of USB modem vendor:product
// on interface iface /dev/iotd-modem-VENDOR-PRODUCT-ifNN and keeps
// ModemManager off it, for [LocalRulesFile]. iface < 0 (unknown) leaves
// the interface out.
func Suggest(vendor, product string, iface int) string {
	vendor, product = strings.ToLower(vendor), strings.ToLower(product)
	name := "iotd-modem-" + vendor + "-" + product
	keys := []string{`SUBSYSTEM=="tty"`, `ENV{ID_VENDOR_ID}=="` + vendor + `"`, `ENV{ID_MODEL_ID}=="` + product + `"`}
	if iface >= 0 {
		ifnum := fmt.Sprintf("%02x", iface)
		keys = append(keys, `ENV{ID_USB_INTERFACE_NUM}=="`+ifnum+`"`)
		name += "-if" + ifnum
	}
	keys = append(keys, `SYMLINK+="`+name+`"`, `ENV{ID_MM_DEVICE_IGNORE}="1"`)
	return strings.Join(keys, ", ")
}
