package serial

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// PortInfo describes one serial port found by [List].
type PortInfo struct {
	// Path is the device node, e.g. "/dev/ttyUSB2".
	Path string
	// ByID lists the /dev/serial/by-id links that point at Path; they keep
	// their names across reboots and re-plugging, unlike ttyUSBn.
	ByID []string
	// Interface is the USB interface number (bInterfaceNumber), -1 when
	// unknown (not USB, or sysfs unavailable). Quectel and SIMCom modems
	// put their primary AT port on interface 2.
	Interface int
	// VendorID and ProductID are the USB ids as four hex digits
	// ("2c7c"), "" when unknown.
	VendorID, ProductID string
}

// ErrNoDiscovery is returned by [List] where iotd cannot discover serial
// ports (every system but Linux): name the port in the AT driver's config
// instead ("port": "COM3" on Windows, "/dev/cu.usbmodem1421" on macOS).
var ErrNoDiscovery = errors.New("serial port discovery (/dev/serial/by-id, USB ids from sysfs) is Linux-only")

var ifaceSuffix = regexp.MustCompile(`-if([0-9a-fA-F]{2})(-port\d+)?$`)

// ListIn is [List] with every path ("/dev", "/sys") taken under root; tests
// point it at a fake tree.
func ListIn(root string) ([]PortInfo, error) {
	byPath := map[string]*PortInfo{}
	for _, pat := range []string{"dev/ttyUSB*", "dev/ttyACM*"} {
		matches, err := filepath.Glob(filepath.Join(root, pat))
		if err != nil {
			return nil, err
		}
		for _, m := range matches {
			dev := "/" + filepath.ToSlash(mustRel(root, m))
			info := &PortInfo{Path: dev, Interface: -1}
			readSysfs(root, filepath.Base(m), info)
			byPath[dev] = info
		}
	}
	links, err := filepath.Glob(filepath.Join(root, "dev/serial/by-id/*"))
	if err != nil {
		return nil, err
	}
	for _, l := range links {
		target, err := os.Readlink(l)
		if err != nil {
			continue
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(l), target)
		} else {
			target = filepath.Join(root, target)
		}
		dev := "/" + filepath.ToSlash(mustRel(root, filepath.Clean(target)))
		info, ok := byPath[dev]
		if !ok {
			info = &PortInfo{Path: dev, Interface: -1}
			readSysfs(root, filepath.Base(dev), info)
			byPath[dev] = info
		}
		info.ByID = append(info.ByID, "/"+filepath.ToSlash(mustRel(root, l)))
		if info.Interface < 0 {
			if m := ifaceSuffix.FindStringSubmatch(filepath.Base(l)); m != nil {
				if n, err := strconv.ParseUint(m[1], 16, 8); err == nil {
					info.Interface = int(n)
				}
			}
		}
	}
	out := make([]PortInfo, 0, len(byPath))
	for _, p := range byPath {
		sort.Strings(p.ByID)
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

func mustRel(root, p string) string {
	r, err := filepath.Rel(root, p)
	if err != nil {
		return p
	}
	return r
}

// readSysfs fills the USB interface number and ids of tty name from
// <root>/sys/class/tty/<name>/device. For ttyUSB the device is the
// usb-serial port below the interface; for ttyACM it is the interface
// itself; the USB device (idVendor, idProduct) is the interface's parent.
func readSysfs(root, name string, info *PortInfo) {
	dev, err := filepath.EvalSymlinks(filepath.Join(root, "sys/class/tty", name, "device"))
	if err != nil {
		return
	}
	for dir, i := dev, 0; i < 3 && len(dir) > len(root); dir, i = filepath.Dir(dir), i+1 {
		b, err := os.ReadFile(filepath.Join(dir, "bInterfaceNumber"))
		if err != nil {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 16, 8); err == nil {
			info.Interface = int(n)
		}
		usb := filepath.Dir(dir)
		info.VendorID = readTrim(filepath.Join(usb, "idVendor"))
		info.ProductID = readTrim(filepath.Join(usb, "idProduct"))
		return
	}
}

func readTrim(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// PickInterface returns the first port on USB interface iface, preferring
// vendor (a USB vendor id, "" for any); ok is false when none matches.
func PickInterface(ports []PortInfo, vendor string, iface int) (PortInfo, bool) {
	for _, p := range ports {
		if p.Interface == iface && (vendor == "" || strings.EqualFold(p.VendorID, vendor)) {
			return p, true
		}
	}
	return PortInfo{}, false
}
