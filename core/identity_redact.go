package core

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// String describes d without its secrets.
func (d DeviceInfo) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "DeviceInfo{auth_mode=%s productId=%s deviceName=%s", d.AuthMode, d.ProductID, d.DeviceName)
	if d.KeyDeviceInfo.DeviceSecret != "" {
		b.WriteString(" deviceSecret=<redacted>")
	}
	if d.ProductSecret != "" {
		b.WriteString(" productSecret=<redacted>")
	}
	if d.CertDeviceInfo.DevCertFile != "" {
		fmt.Fprintf(&b, " devCertFile=%s devPrivateKeyFile=%s", d.CertFile(), d.KeyFile())
	}
	if n := len(d.SubDevices()); n > 0 {
		fmt.Fprintf(&b, " subdevices=%d", n)
	}
	b.WriteString("}")
	return b.String()
}

// GoString keeps %#v from printing the secrets.
func (d DeviceInfo) GoString() string { return "core." + d.String() }

// Format prints String for every verb (%#v: GoString), so no verb reveals a
// secret.
func (d DeviceInfo) Format(f fmt.State, verb rune) { formatRedacted(f, verb, d) }

// LogValue logs d without its secrets.
func (d DeviceInfo) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("auth_mode", d.AuthMode),
		slog.String("productId", d.ProductID),
		slog.String("deviceName", d.DeviceName),
	)
}

// String hides the secret.
func (k KeyDeviceInfo) String() string {
	if k.DeviceSecret == "" {
		return "{deviceSecret=}"
	}
	return "{deviceSecret=<redacted>}"
}

// GoString hides the secret.
func (k KeyDeviceInfo) GoString() string { return "core.KeyDeviceInfo" + k.String() }

// Format prints String for every verb.
func (k KeyDeviceInfo) Format(f fmt.State, verb rune) { formatRedacted(f, verb, k) }

// LogValue hides the secret.
func (k KeyDeviceInfo) LogValue() slog.Value { return slog.StringValue(k.String()) }

type redactedStringer interface {
	fmt.Stringer
	fmt.GoStringer
}

func formatRedacted(f fmt.State, verb rune, v redactedStringer) {
	if verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, v.GoString())
		return
	}
	_, _ = io.WriteString(f, v.String())
}
