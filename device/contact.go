package device

import (
	"crypto/x509"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/hub"
	"github.com/iotd/iotd/localapi"
)

// Contact is what the device contacts and trusts, resolved from the
// configuration and device_info.json: the region, the link's endpoint and
// where it came from, and what verifies the server. `iotd run --check`
// prints it; the first-contact walk follows it.
type Contact struct {
	// Region is the hub region ("china", "us-east", ...).
	Region string
	// RegionConfirmed is false when the region's registration and log
	// endpoints come from the newer SDK's tables (README lists them).
	RegionConfirmed bool
	// Channel is mqtt, coap or websocket.
	Channel string
	// Driver is the link's driver ("tls", "tcp", "dtls", "websocket",
	// "at.quectel", a plugin's).
	Driver string
	// Carrier is the stream driver under the WebSocket channel ("tls" for
	// wss, "tcp" for ws); "" on other channels.
	Carrier string
	// Endpoint is the host:port the link dials; EndpointFrom says why:
	// "link.endpoint in FILE" or "region NAME".
	Endpoint     string
	EndpointFrom string
	// Trust is what verifies the server on the link.
	Trust Trust
	// RegistrationURL and LogUploadURL are the HTTP services' endpoints
	// (the configured ones, else the region's).
	RegistrationURL string
	LogUploadURL    string
	// LogUpload is set when a feature of this build uploads the daemon's
	// log lines to LogUploadURL: its section is on, and the channel can
	// carry it.
	LogUpload bool
	// Features are the feature modules of this build that will run, in
	// name order; FeaturesOff are those that will not, with why.
	Features    []string
	FeaturesOff []FeatureOff
}

// FeatureOff is a feature module of this build that will not run.
type FeatureOff struct {
	// Name is the module's name.
	Name string
	// Why says why it is off: "disabled in the configuration", "not
	// enabled in the configuration" (off by default), or "switched off by
	// channel coap: it needs downlink".
	Why string
}

// Trust says what verifies the hub's server on the link.
type Trust struct {
	// From says it in words: "ca_file X in FILE", "devCaFile X in FILE",
	// "the Tencent IoT Hub CAs bundled with iotd", ...
	From string
	// Certs are the CA certificates trusted besides the system roots (nil
	// when they could not be read: the driver reports that at dial).
	Certs []*x509.Certificate
	// System is set when the system roots are trusted too.
	System bool
	// Insecure is set when verification is off (insecure_skip_verify).
	Insecure bool
	// Pool is Certs (and the system roots when System) as a pool for
	// tls.Config.RootCAs; nil when the link does no TLS iotd configures.
	Pool *x509.CertPool
}

// Contact returns what the device contacts and trusts.
func (d *Device) Contact() Contact { return d.contact }

// bundledHubTrust and bundledWebTrust name the default trusts.
const (
	bundledHubTrust = "the Tencent IoT Hub CAs bundled with iotd"
	bundledWebTrust = "the system roots and the CAs bundled with iotd"
)

// region resolves the hub region: the config's region key, else
// device_info.json's, else the SDK's default. When both name one they must
// agree, so a device is never sent to a hub its file does not belong to.
func (c *Config) region(dev *core.DeviceInfo) (hub.Region, error) {
	name := c.Region
	if name == "" {
		name = dev.Region
	} else if dev.Region != "" && dev.Region != c.Region {
		return hub.Region{}, &core.ConfigError{Source: "config", Field: "region",
			Msg: fmt.Sprintf("%q, but %s says %q: remove one, or make them agree", c.Region, c.DeviceInfoPath(), dev.Region)}
	}
	r, err := hub.LookupRegion(name)
	if err != nil {
		field, src := "region", "config"
		if c.Region == "" {
			field, src = "region", c.DeviceInfoPath()
		}
		return hub.Region{}, &core.ConfigError{Source: src, Field: field, Msg: err.Error()}
	}
	return r, nil
}

// linkService is the hub service a link of this channel and driver
// reaches by default.
func linkService(channel, driverName string) hub.Service {
	switch channel {
	case ChannelCoAP:
		return hub.CoAP
	case ChannelWebSocket:
		if driverName == "tls" {
			return hub.WebSocketTLS
		}
		return hub.WebSocket
	}
	if driverName == "tcp" {
		return hub.MQTTPlain
	}
	return hub.MQTT
}

// linkTrust decides what verifies the server for the link driver name with
// configuration dc, and writes the default into dc: ca_file in the
// configuration, else the device's devCaFile, else the CAs bundled with
// iotd (Tencent's for MQTT and CoAP; those plus the public ones and the
// system roots for WebSocket, whose servers use a public CA).
func (d *Device) linkTrust(channel, name string, dc map[string]any) Trust {
	switch name {
	case "tls", "dtls":
	case "tcp", "udp":
		return Trust{From: "none: plain " + strings.ToUpper(name) + ", no TLS"}
	default:
		return Trust{From: fmt.Sprintf("whatever driver %q verifies (its own configuration)", name)}
	}
	if _, psk := dc["psk"]; name == "dtls" && psk {
		return Trust{From: "the device secret (DTLS-PSK): no certificates"}
	}
	if v, _ := dc["insecure_skip_verify"].(bool); v {
		return Trust{From: "OFF: insecure_skip_verify is set; the server is not verified", Insecure: true}
	}
	system, _ := dc["system_roots"].(bool)
	var t Trust
	switch file, _ := dc["ca_file"].(string); {
	case file != "":
		t = Trust{From: fmt.Sprintf("ca_file %s in %s", file, d.cfg.Source())}
		t.Certs = readCerts(file, &t)
	case d.device.CAFile() != "":
		file = d.device.CAFile()
		dc["ca_file"] = file
		t = Trust{From: fmt.Sprintf("devCaFile %s in %s", file, d.cfg.DeviceInfoPath())}
		t.Certs = readCerts(file, &t)
	case channel == ChannelWebSocket:
		cas := hub.Bundled()
		dc["ca_pem"], dc["system_roots"] = string(hub.PEM(cas)), true
		system = true
		t = Trust{From: bundledWebTrust, Certs: certsOf(cas)}
	default:
		cas := hub.HubCAs()
		dc["ca_pem"] = string(hub.PEM(cas))
		t = Trust{From: bundledHubTrust, Certs: certsOf(cas)}
	}
	if pemText, _ := dc["ca_pem"].(string); pemText != "" && t.From != bundledHubTrust && t.From != bundledWebTrust {
		if extra, err := hub.ParsePEM([]byte(pemText)); err == nil {
			t.Certs = append(t.Certs, extra...)
			t.From += " and ca_pem"
		}
	}
	t.System = system
	if system && t.From != bundledWebTrust {
		t.From += ", with the system roots"
	}
	var base *x509.CertPool
	if system {
		if sp, err := x509.SystemCertPool(); err == nil {
			base = sp
		}
	}
	t.Pool = hub.Pool(base, nil)
	for _, c := range t.Certs {
		t.Pool.AddCert(c)
	}
	return t
}

func certsOf(cas []hub.CA) []*x509.Certificate {
	certs := make([]*x509.Certificate, len(cas))
	for i, ca := range cas {
		certs[i] = ca.Cert
	}
	return certs
}

// parsedCAs holds the certificates of each CA file content read by
// readCerts, by that content: the devices of a fleet in one process
// (cmd/fleet) share one CA, which was parsed once per device. The
// certificates are only read; the slice is clipped so that an append
// copies it.
var parsedCAs sync.Map // string(PEM) -> []*x509.Certificate

// readCerts parses a CA file for the report; a file that cannot be read is
// noted in t and left to the driver, which refuses to dial with it.
func readCerts(file string, t *Trust) []*x509.Certificate {
	data, err := os.ReadFile(file)
	if err == nil {
		if c, ok := parsedCAs.Load(string(data)); ok {
			return slices.Clip(c.([]*x509.Certificate))
		}
		var certs []*x509.Certificate
		if certs, err = hub.ParsePEM(data); err == nil {
			c, _ := parsedCAs.LoadOrStore(string(data), certs)
			return slices.Clip(c.([]*x509.Certificate))
		}
	}
	t.From += fmt.Sprintf(" (unusable: %v)", err)
	return nil
}

// Source names the configuration file in messages: File, or "the
// configuration" for a Config built in code.
func (c *Config) Source() string {
	if c.File != "" {
		return c.File
	}
	return "the configuration"
}

// Hint explains a server certificate that this trust refused (errText is
// the link's error), naming the trust; "" for other errors.
func (t Trust) Hint(errText string) string {
	if !strings.Contains(errText, "not a trusted CA") && !strings.Contains(errText, "unknown authority") {
		return ""
	}
	switch t.From {
	case bundledHubTrust:
		return "the server's certificate is not from a Tencent IoT Hub CA bundled with iotd (" + bundledFiles(true) +
			"): if this endpoint is not the real hub, set ca_file in link.driver_config (or devCaFile in device_info.json) to the CA that signed it"
	case bundledWebTrust:
		return "the server's certificate is from no CA in the system roots or bundled with iotd: if this endpoint is not the real hub, set ca_file in link.driver_config"
	}
	return "the server's certificate is not from the CA iotd trusts here, " + t.From + ": point it at the CA that signed the server's certificate"
}

// bundledFiles lists the bundled CA files, Tencent's or the public ones.
func bundledFiles(tencent bool) string {
	var names []string
	cas := hub.PublicCAs()
	if tencent {
		cas = hub.HubCAs()
	}
	for _, ca := range cas {
		names = append(names, ca.File)
	}
	return strings.Join(names, ", ")
}

// Status reports t at now, as `iotd status` shows it: the CAs and a warning
// for each that expires soon or has expired.
func (t Trust) Status(now time.Time) localapi.TrustStatus {
	ts := localapi.TrustStatus{From: t.From, SystemRoots: t.System}
	for _, c := range t.Certs {
		ca := localapi.TrustedCA{Subject: c.Subject.String(), NotAfter: c.NotAfter.UTC()}
		if b, ok := hub.Find(c); ok {
			ca.Bundled = b.File
		}
		ts.CAs = append(ts.CAs, ca)
	}
	for _, c := range hub.Expiring(t.Certs, now, hub.ExpiryWarning) {
		verb := "expires"
		if c.NotAfter.Before(now) {
			verb = "expired"
		}
		ts.Warnings = append(ts.Warnings, fmt.Sprintf("trusted CA %q %s on %s: update iotd (bundled CAs) or the CA file before then",
			c.Subject.String(), verb, c.NotAfter.UTC().Format(time.DateOnly)))
	}
	return ts
}
