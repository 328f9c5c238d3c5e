package device

import (
	"log/slog"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/bus/attencent"
	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/linkstate"
	"github.com/iotd/iotd/localapi"
)

// ChannelATTencent is a module running Tencent's customised AT firmware:
// the module is the MQTT client, iotd drives it over its serial port
// (at_tencent section). Publishes, subscriptions and every feature built
// on them work; those that need the host's own network are off.
const ChannelATTencent = "at-tencent"

// validateATTencent checks the at_tencent section when the channel is
// at-tencent (the identity is checked once device_info.json is loaded).
func (c *Config) validateATTencent() error {
	if c.channel() != ChannelATTencent {
		return nil
	}
	ac := c.ATTencent
	ac.ProductID, ac.DeviceName, ac.DeviceSecret = "PRODUCT000", "-", "-" // filled from device_info.json later
	if ac.Port == "" {
		return &core.ConfigError{Source: "config", Field: "at_tencent.port", Msg: "empty; channel at-tencent needs the module's serial port, e.g. /dev/ttyUSB0"}
	}
	ac.KeepAlive = c.MQTT.KeepAlive
	if err := ac.Validate(); err != nil {
		return err
	}
	return nil
}

// atTencentContact is the contact of the at-tencent channel: the module's
// port, and the module's own trust (its firmware verifies the hub).
func (d *Device) atTencentContact() error {
	region, err := d.cfg.region(d.device)
	if err != nil {
		return err
	}
	d.contact = Contact{Region: region.Name, RegionConfirmed: region.Confirmed, Channel: ChannelATTencent,
		Driver: attencent.Driver, Endpoint: d.cfg.ATTencent.Port, EndpointFrom: "at_tencent.port in " + d.cfg.Source(),
		Trust:           Trust{From: "the module's own: Tencent's AT firmware connects and verifies the hub itself"},
		RegistrationURL: orDefault(d.cfg.Registration.URL, region.RegistrationURL),
		LogUploadURL:    orDefault(d.cfg.logURL(), region.LogURL)}
	return nil
}

// newATTencentUplink builds the at-tencent uplink from the at_tencent
// section, the identity, mqtt.keepalive and clean_session, link.backoff.
func (d *Device) newATTencentUplink(b *bus.Bus, log *slog.Logger) (uplink, error) {
	if d.device.IsCert() {
		return nil, &core.ConfigError{Source: d.cfg.DeviceInfoPath(), Field: "auth_mode",
			Msg: "a certificate device cannot use channel at-tencent: AT+TCDEVINFOSET takes a key (tls_mode 1, the only mode the ESP firmware accepts), and iotd does not drive the cellular firmwares' certificate commands; use a key device, or channel: mqtt with TLS over the module's sockets"}
	}
	ac := d.cfg.ATTencent
	ac.ProductID, ac.DeviceName = d.device.ProductID, d.device.DeviceName
	ac.DeviceSecret = d.device.KeyDeviceInfo.DeviceSecret
	ac.Region = d.contact.Region
	ac.KeepAlive, ac.CleanSession = d.cfg.MQTT.KeepAlive, d.cfg.MQTT.CleanSession
	ac.Backoff, ac.Logger = d.cfg.Link.Backoff, log
	u, err := attencent.New(ac, b)
	if err != nil {
		return nil, err
	}
	d.module = u
	return u, nil
}

// linkState is the link's state, whichever channel carries it.
func (d *Device) linkState() linkstate.State {
	if d.module != nil {
		return d.module.State()
	}
	return d.link.State()
}

// atTencentStatus fills the uplink's part of st.
func (d *Device) atTencentStatus(st *localapi.Status) {
	as := d.module.Status()
	st.ConnectedSince, st.QueueDepth = as.ConnectedSince, as.QueueDepth
	st.Subscriptions, st.LastError = as.Subscriptions, as.LastError
}
