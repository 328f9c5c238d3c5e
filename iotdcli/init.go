package iotdcli

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/hub"
	"github.com/iotd/iotd/daemon"
	"github.com/iotd/iotd/device"
	"github.com/iotd/iotd/internal/pki"
)

// initOptions are `iotd init`'s flags.
type initOptions struct {
	productID, deviceName string
	secret                string // "-": read from stdin
	cert, key, ca         string // certificate device's files
	region, channel       string
	endpoint, caFile      string
	dir, config           string
	noCheck               bool
}

func initCmd() *cobra.Command {
	var o initOptions
	c := &cobra.Command{
		Use:   "init --product-id ID --device-name NAME (--secret SECRET | --cert FILE --key FILE)",
		Short: "Write iotd.yaml and device_info.json for a device, then check that it connects",
		Long: `Write device_info.json (the C SDK's format) and a short, annotated iotd.yaml into --dir, both
private (mode 0600), for a key device (--secret; "-" reads it from stdin, keeping it out of the
shell's history) or a certificate device (--cert and --key, referenced by name, not copied).
Existing files are never overwritten. Then the first-contact walk of ` + "`iotd run --check --connect`" + `
runs, unless --no-check.

The endpoints are the region's (china unless --region says otherwise); --endpoint and --ca-file
point iotd at another server, such as hubsim:

  iotd init --product-id PID --device-name dev1 --secret - --region us-east
  iotd init --product-id PID --device-name dev1 --cert dev1.crt --key dev1.key
  iotd init --product-id PID --device-name dev1 --secret S --endpoint localhost:8883 --ca-file .hubsim/ca.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runInit(cmd, o) },
	}
	f := c.Flags()
	f.StringVar(&o.productID, "product-id", "", "the product id, as the console shows it (required)")
	f.StringVar(&o.deviceName, "device-name", "", "the device name (required)")
	f.StringVar(&o.secret, "secret", "", `key device: the device secret (base64, as the console shows it); "-" reads it from stdin`)
	f.StringVar(&o.cert, "cert", "", "certificate device: the device certificate (PEM)")
	f.StringVar(&o.key, "key", "", "certificate device: its private key (PEM)")
	f.StringVar(&o.ca, "ca", "", "certificate device: the CA that signs the hub's server certificate, as devCaFile (default: the hub CAs bundled with iotd)")
	f.StringVar(&o.region, "region", hub.DefaultRegion, "the hub region: "+strings.Join(hub.RegionNames(), ", "))
	f.StringVar(&o.channel, "channel", "", "mqtt (default), websocket (MQTT over wss on 443, for networks that let only HTTPS out) or coap")
	f.StringVar(&o.endpoint, "endpoint", "", "host:port of the hub's server (default: the region's)")
	f.StringVar(&o.caFile, "ca-file", "", "PEM CA that verifies the server, as link.driver_config.ca_file (labs, hubsim; default: the hub CAs bundled with iotd)")
	f.StringVar(&o.dir, "dir", ".", "directory to write the files into (created if missing)")
	f.StringVar(&o.config, "config", "iotd.yaml", "name of the configuration file to write")
	f.BoolVar(&o.noCheck, "no-check", false, "do not connect to check the files")
	return c
}

func runInit(cmd *cobra.Command, o initOptions) error {
	if err := o.validate(); err != nil {
		return err
	}
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	cfgPath := filepath.Join(dir, o.config)
	infoPath := filepath.Join(dir, "device_info.json")
	if filepath.Dir(cfgPath) != dir || cfgPath == infoPath {
		return fmt.Errorf("init: --config %q: give a file name other than device_info.json, without a directory (use --dir for that)", o.config)
	}
	for _, p := range []string{infoPath, cfgPath} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("init: %s exists and init never overwrites: move it away (or choose another --dir), then run init again", p)
		} else if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("init: %w", err)
		}
	}
	if o.secret == "-" {
		if o.secret, err = readSecret(cmd.InOrStdin()); err != nil {
			return err
		}
	}
	info, err := o.deviceInfo(dir)
	if err != nil {
		return err
	}
	if err := info.Validate(); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	yaml, err := o.yaml()
	if err != nil {
		return err
	}
	if _, err := daemon.ParseConfig(yaml, cfgPath, dir); err != nil {
		return fmt.Errorf("init: the configuration it would write is not valid: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if err := writeNew(infoPath, func(tmp string) error { return core.SaveDeviceInfo(tmp, info) }); err != nil {
		return err
	}
	if err := writeNew(cfgPath, func(tmp string) error { return pki.WriteFileAtomic(tmp, yaml, 0o600) }); err != nil {
		_ = os.Remove(infoPath) // written just now: leave the directory as it was
		return err
	}

	out := cmd.OutOrStdout()
	kind := "key device"
	if info.IsCert() {
		kind = "certificate device, " + info.CertDeviceInfo.DevCertFile
	}
	fmt.Fprintf(out, "wrote %s (%s/%s, %s, region %s; mode 0600)\n", infoPath, info.ProductID, info.DeviceName, kind, o.region)
	fmt.Fprintf(out, "wrote %s (mode 0600; daemon/iotd.sample.yaml in iotd's source lists every key)\n", cfgPath)
	run := "iotd run -c " + cfgPath
	if o.noCheck {
		fmt.Fprintf(out, "\nnext: iotd run --check --connect -c %s, then %s\n", cfgPath, run)
		return nil
	}
	fmt.Fprintln(out)
	if err := checkInit(cmd, cfgPath); err != nil {
		fmt.Fprintf(out, "\nthe files are written; fix the above, then check again: iotd run --check --connect -c %s\n", cfgPath)
		return err
	}
	fmt.Fprintf(out, "\nnext: %s\n", run)
	return nil
}

// checkInit runs the first-contact walk on the files just written.
func checkInit(cmd *cobra.Command, cfgPath string) error {
	cfg, err := daemon.LoadConfig(cfgPath)
	if err != nil {
		return err
	}
	off := false
	cfg.Outbox.Enabled = &off // a check leaves the state directory alone
	d, err := daemon.New(cfg, core.Default, newLogger(cmd.ErrOrStderr(), daemon.LogConfig{Level: "warn"}))
	if err != nil {
		return err
	}
	return d.FirstContact(cmd.Context(), cmd.OutOrStdout())
}

func (o initOptions) validate() error {
	switch {
	case o.productID == "" || o.deviceName == "":
		return errors.New("init: --product-id and --device-name are required (the console shows both)")
	case o.secret != "" && (o.cert != "" || o.key != ""):
		return errors.New("init: a device has a secret (--secret) or a certificate (--cert and --key), not both")
	case o.secret == "" && (o.cert == "" || o.key == ""):
		return errors.New("init: give --secret for a key device, or --cert and --key for a certificate device")
	case o.ca != "" && o.cert == "":
		return errors.New("init: --ca is a certificate device's devCaFile; for a key device use --ca-file")
	case o.channel == device.ChannelCoAP && o.caFile != "" && o.cert == "":
		return errors.New("init: --ca-file: a key device on the coap channel uses DTLS with its secret (PSK), which trusts no CA")
	}
	if _, err := hub.LookupRegion(o.region); err != nil {
		return fmt.Errorf("init: --region: %w", err)
	}
	switch o.channel {
	case "", device.ChannelMQTT, device.ChannelWebSocket, device.ChannelCoAP:
	default:
		return fmt.Errorf("init: --channel %q: use mqtt, websocket or coap", o.channel)
	}
	if o.cert != "" {
		if _, err := tls.LoadX509KeyPair(o.cert, o.key); err != nil {
			return fmt.Errorf("init: --cert and --key must be a PEM certificate and its private key: %w", err)
		}
	}
	for _, f := range []struct{ flag, file string }{{"--ca", o.ca}, {"--ca-file", o.caFile}} {
		if f.file == "" {
			continue
		}
		data, err := os.ReadFile(f.file)
		if err == nil {
			_, err = hub.ParsePEM(data)
		}
		if err != nil {
			return fmt.Errorf("init: %s %s: want a PEM CA certificate: %w", f.flag, f.file, err)
		}
	}
	return nil
}

// readSecret reads the device secret from the first line of r.
func readSecret(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("init: --secret -: %w", err)
	}
	if s := strings.TrimSpace(line); s != "" {
		return s, nil
	}
	return "", errors.New("init: --secret -: stdin held no secret")
}

// deviceInfo is the identity to write. Certificate files are referenced
// relative to dir when they are inside it, so the directory can move, and
// by absolute path otherwise.
func (o initOptions) deviceInfo(dir string) (*core.DeviceInfo, error) {
	info := &core.DeviceInfo{ProductID: o.productID, DeviceName: o.deviceName, Region: o.region}
	if o.secret != "" {
		info.AuthMode = core.AuthKey
		info.KeyDeviceInfo.DeviceSecret = o.secret
		return info, nil
	}
	info.AuthMode = core.AuthCert
	c := &info.CertDeviceInfo
	for _, f := range []struct {
		dst  *string
		file string
	}{{&c.DevCertFile, o.cert}, {&c.DevPrivateKeyFile, o.key}, {&c.DevCaFile, o.ca}} {
		if f.file == "" {
			continue
		}
		abs, err := filepath.Abs(f.file)
		if err != nil {
			return nil, fmt.Errorf("init: %w", err)
		}
		*f.dst = abs
		if rel, err := filepath.Rel(dir, abs); err == nil && !strings.HasPrefix(rel, "..") {
			*f.dst = rel
		}
	}
	return info, nil
}

// initYAML is the configuration init writes: short, with the defaults
// left to iotd. endpoint and caFile are YAML strings (yamlString), empty
// when not set. (Plain code rather than text/template: a reachable template
// executor makes the linker keep every exported method of every type, some
// 1.5 MB of the binary.)
func initYAML(region, channel, endpoint, caFile string) string {
	var b strings.Builder
	b.WriteString(`# iotd configuration, written by ` + "`iotd init`" + `. Every key is optional: what is not
# here is iotd's default. daemon/iotd.sample.yaml in iotd's source lists every key, annotated;
# ` + "`iotd run --check -c THIS_FILE`" + ` prints what iotd will contact and trust.

# The device identity, in the C SDK's format (keep it private). Its region (` + region + `)
# chooses the hub's endpoints.
device_info: device_info.json

# mqtt: MQTT over TLS on 8883. websocket: MQTT over wss on 443, for networks that let only
# HTTPS out. coap: publishes and OTA only.
channel: ` + channel + "\n")
	if endpoint != "" || caFile != "" {
		b.WriteString("\nlink:\n")
	}
	if endpoint != "" {
		b.WriteString("  # Not the region's endpoint: another server (a lab, hubsim).\n  endpoint: " + endpoint + "\n")
	}
	if caFile != "" {
		b.WriteString("  driver_config:\n" +
			"    # The CA that signed that server's certificate (instead of the hub CAs bundled with iotd).\n" +
			"    ca_file: " + caFile + "\n")
	}
	return b.String()
}

func (o initOptions) yaml() ([]byte, error) {
	channel := o.channel
	if channel == "" {
		channel = device.ChannelMQTT
	}
	caFile := o.caFile
	if caFile != "" {
		abs, err := filepath.Abs(caFile)
		if err != nil {
			return nil, fmt.Errorf("init: %w", err)
		}
		caFile = abs
	}
	return []byte(initYAML(o.region, channel, yamlString(o.endpoint), yamlString(caFile))), nil
}

// yamlString quotes s for YAML ("" stays empty: the key is left out).
func yamlString(s string) string {
	if s == "" {
		return ""
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// writeNew creates path with what write puts into a temporary file next
// to it, and never replaces an existing file: the temporary file is linked
// into place, which fails when path exists. On a file system without hard
// links it is renamed, after a check.
func writeNew(path string, write func(tmp string) error) error {
	tmp := filepath.Join(filepath.Dir(path), fmt.Sprintf(".%s.init-%d", filepath.Base(path), os.Getpid()))
	defer os.Remove(tmp)
	if err := write(tmp); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	err := os.Link(tmp, path)
	switch {
	case err == nil:
		syncDir(filepath.Dir(path))
		return nil
	case errors.Is(err, os.ErrExist):
		return fmt.Errorf("init: %s appeared meanwhile and init never overwrites: move it away, then run init again", path)
	}
	if _, serr := os.Lstat(path); serr == nil {
		return fmt.Errorf("init: %s appeared meanwhile and init never overwrites: move it away, then run init again", path)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	syncDir(filepath.Dir(path))
	return nil
}

// syncDir makes a new directory entry durable.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
