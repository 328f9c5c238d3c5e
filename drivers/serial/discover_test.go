package serial_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/serial"
)

func write(t *testing.T, p, s string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(s), 0o644))
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(link), 0o755))
	require.NoError(t, os.Symlink(target, link))
}

// fakeQuectel builds a sysfs/dev tree like an EG25 (2c7c:0125, ttyUSB0..3 on
// interfaces 0..3) plus a CDC-ACM device (ttyACM0, interface 0).
func fakeTree(t *testing.T) string {
	root := t.TempDir()
	usb := filepath.Join(root, "sys/devices/pci0000:00/usb1/1-1")
	write(t, filepath.Join(usb, "idVendor"), "2c7c\n")
	write(t, filepath.Join(usb, "idProduct"), "0125\n")
	for i, tty := range []string{"ttyUSB0", "ttyUSB1", "ttyUSB2", "ttyUSB3"} {
		iface := filepath.Join(usb, "1-1:1."+string(rune('0'+i)))
		write(t, filepath.Join(iface, "bInterfaceNumber"), "0"+string(rune('0'+i))+"\n")
		port := filepath.Join(iface, tty)
		require.NoError(t, os.MkdirAll(port, 0o755))
		symlink(t, port, filepath.Join(root, "sys/class/tty", tty, "device"))
		write(t, filepath.Join(root, "dev", tty), "")
	}
	symlink(t, "../../ttyUSB2", filepath.Join(root, "dev/serial/by-id/usb-Quectel_EG25-if02-port0"))
	// ttyACM0: the device link is the interface itself.
	acm := filepath.Join(root, "sys/devices/pci0000:00/usb1/1-2")
	write(t, filepath.Join(acm, "idVendor"), "1546\n")
	write(t, filepath.Join(acm, "idProduct"), "1102\n")
	write(t, filepath.Join(acm, "1-2:1.0/bInterfaceNumber"), "00\n")
	symlink(t, filepath.Join(acm, "1-2:1.0"), filepath.Join(root, "sys/class/tty/ttyACM0/device"))
	write(t, filepath.Join(root, "dev/ttyACM0"), "")
	return root
}

func TestListInFindsPortsAndInterfaces(t *testing.T) {
	ports, err := serial.ListIn(fakeTree(t))
	require.NoError(t, err)
	require.Len(t, ports, 5)
	assert.Equal(t, serial.PortInfo{Path: "/dev/ttyACM0", Interface: 0, VendorID: "1546", ProductID: "1102"}, ports[0])
	assert.Equal(t, serial.PortInfo{Path: "/dev/ttyUSB2", Interface: 2, VendorID: "2c7c", ProductID: "0125",
		ByID: []string{"/dev/serial/by-id/usb-Quectel_EG25-if02-port0"}}, ports[3])

	at, ok := serial.PickInterface(ports, "2C7C", 2)
	require.True(t, ok)
	assert.Equal(t, "/dev/ttyUSB2", at.Path)
	_, ok = serial.PickInterface(ports, "2c7c", 7)
	assert.False(t, ok)
}

func TestListInByIDWithoutSysfsUsesNameSuffix(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "dev/ttyUSB5"), "")
	symlink(t, "../../ttyUSB5", filepath.Join(root, "dev/serial/by-id/usb-SimTech_SIM7600-if03-port0"))
	ports, err := serial.ListIn(root)
	require.NoError(t, err)
	require.Len(t, ports, 1)
	assert.Equal(t, 3, ports[0].Interface)
	assert.Equal(t, "", ports[0].VendorID)
}

func TestListInEmpty(t *testing.T) {
	ports, err := serial.ListIn(t.TempDir())
	require.NoError(t, err)
	assert.Empty(t, ports)
}

func TestDriver(t *testing.T) {
	d := serial.New()
	assert.Equal(t, "serial", d.Name())
	assert.Empty(t, d.Transports())

	err := d.Probe(context.Background())
	if ports, _ := serial.List(); len(ports) == 0 {
		assert.ErrorIs(t, err, driver.ErrSkip)
	} else {
		assert.NoError(t, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, d.Probe(ctx), context.Canceled)

	for name, cfg := range map[string]string{"nil": "", "empty": "{}", "null": "null"} {
		t.Run(name, func(t *testing.T) {
			dl, err := d.Open([]byte(cfg))
			require.NoError(t, err)
			_, err = dl.Dial(context.Background(), driver.Stream, "example.com:1883")
			assert.ErrorIs(t, err, driver.ErrNotSupported)
		})
	}
	_, err = d.Open([]byte(`{"port":"/dev/ttyUSB2"}`))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"port"`)
	_, err = d.Open([]byte(`[`))
	assert.Error(t, err)
}
