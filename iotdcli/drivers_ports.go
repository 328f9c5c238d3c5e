package iotdcli

import (
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/iotd/iotd/drivers/serial"
	"github.com/iotd/iotd/packaging/udev"
)

// The part of `iotd drivers` that looks at this machine rather than asking
// the daemon: the USB serial ports and the udev rules that name them. It
// is apart from drivers.go, a client command that talks to the daemon
// through localapi only (cmd/iotd's layering test).

// printLocalSerialPorts lists this machine's USB serial ports, or says why
// they cannot be listed here (discovery is Linux's sysfs).
func printLocalSerialPorts(out io.Writer) {
	switch ports, err := serial.List(); {
	case err == nil:
		printSerialPorts(out, ports)
	case errors.Is(err, serial.ErrNoDiscovery):
		fmt.Fprintf(out, "\nSerial ports: not listed: %v\n", err)
	}
}

// printSerialPorts lists the USB serial ports: their USB ids and
// interface, and the stable name iotd's udev rules give each; for a device
// the rules do not know, it prints the rule line that names the port and
// keeps ModemManager off it.
func printSerialPorts(out io.Writer, ports []serial.PortInfo) {
	var usb, unknown []serial.PortInfo
	for _, p := range ports {
		if p.VendorID != "" {
			usb = append(usb, p)
		}
	}
	if len(usb) == 0 {
		return
	}
	fmt.Fprintf(out, "\nUSB serial ports:\n")
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, p := range usb {
		id := p.VendorID + ":" + p.ProductID + " " + ifaceName(p.Interface)
		switch name, ok := udev.Name(p.VendorID, p.ProductID, p.Interface); {
		case ok:
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", p.Path, id, name)
		case udev.KnownDevice(p.VendorID, p.ProductID):
			fmt.Fprintf(tw, "  %s\t%s\t(a known modem's other port: no name, not its AT port)\n", p.Path, id)
		default:
			fmt.Fprintf(tw, "  %s\t%s\tnot in iotd's udev rules\n", p.Path, id)
			unknown = append(unknown, p)
		}
	}
	tw.Flush()
	if len(unknown) == 0 {
		return
	}
	fmt.Fprintf(out, "\nTo name a port of a modem iotd's udev rules do not know (and keep ModemManager\noff it), add its line to %s:\n", udev.LocalRulesFile)
	for _, p := range unknown {
		fmt.Fprintf(out, "# %s (%s:%s %s)\n%s\n", p.Path, p.VendorID, p.ProductID, ifaceName(p.Interface),
			udev.Suggest(p.VendorID, p.ProductID, p.Interface))
	}
	fmt.Fprintf(out, "then: udevadm control --reload-rules && udevadm trigger --subsystem-match=tty\n")
}

// ifaceName is a USB interface number as usb_id and /dev/serial/by-id
// write it ("if02"), "if?" when unknown.
func ifaceName(n int) string {
	if n < 0 {
		return "if?"
	}
	return fmt.Sprintf("if%02x", n)
}
