package device

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/iotd/iotd/bus"
	coapup "github.com/iotd/iotd/bus/coap"
	mqttup "github.com/iotd/iotd/bus/mqtt"
	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/localapi"
)

// Channels: how the device talks to the hub.
const (
	// ChannelMQTT is MQTT over a stream link (tls by default): everything
	// works.
	ChannelMQTT = "mqtt"
	// ChannelCoAP is the hub's CoAP channel over a datagram link (dtls by
	// default): publishes and OTA only, since CoAP has no downlink.
	ChannelCoAP = "coap"
	// ChannelWebSocket is MQTT over WebSocket over a stream link (tls by
	// default: wss on 443): everything works, through firewalls that let
	// only HTTPS out.
	ChannelWebSocket = "websocket"
)

// uplink is what the device needs of either uplink.
type uplink interface {
	Run(ctx context.Context) error
	Serving() <-chan struct{}
}

// channel returns the configured channel, mqtt when unset.
func (c *Config) channel() string {
	if c.Channel == "" {
		return ChannelMQTT
	}
	return strings.ToLower(c.Channel)
}

func (c *Config) validateChannel() error {
	bad := func(field, msg string) error {
		return &core.ConfigError{Source: "config", Field: field, Msg: msg}
	}
	switch c.channel() {
	case ChannelMQTT, ChannelCoAP, ChannelWebSocket, ChannelATTencent:
	default:
		return bad("channel", fmt.Sprintf("%q: use mqtt, websocket, coap or at-tencent", c.Channel))
	}
	if err := c.validateATTencent(); err != nil {
		return err
	}
	if err := c.WebSocket.validate(); err != nil {
		return err
	}
	cc := c.CoAP
	cc.ProductID, cc.DeviceName = "-", "-" // filled from device_info.json later
	if err := cc.Validate(); err != nil {
		var ce *core.ConfigError
		if errors.As(err, &ce) {
			return bad("coap."+ce.Field, ce.Msg)
		}
		return bad("coap", err.Error())
	}
	return nil
}

// coapLinkDefaults fills what the CoAP channel changes in the link: for a
// KEY device over dtls the PSK (identity = client id, key = device secret)
// unless driver_config sets it.
func (d *Device) coapLinkDefaults(name string, dc map[string]any) {
	if name == "dtls" && !d.device.IsCert() {
		_, hasPSK := dc["psk"]
		_, hasID := dc["psk_identity"]
		if !hasPSK && !hasID {
			dc["psk_identity"] = d.device.ClientID()
			dc["psk"] = d.device.KeyDeviceInfo.DeviceSecret
		}
	}
}

// newUplink builds the uplink of the configured channel.
func (d *Device) newUplink(b *bus.Bus, log *slog.Logger) (uplink, error) {
	cfg := d.cfg
	if cfg.channel() == ChannelATTencent {
		return d.newATTencentUplink(b, log)
	}
	if cfg.channel() == ChannelCoAP {
		cc := cfg.CoAP
		cc.ProductID, cc.DeviceName = d.device.ProductID, d.device.DeviceName
		u, err := coapup.New(cc, d.link, b, log)
		if err != nil {
			return nil, err
		}
		d.coap = u
		return u, nil
	}
	method := core.SignMethod(cfg.MQTT.SignMethod)
	dev := d.device
	u, err := mqttup.New(mqttup.Config{
		Credentials: func() (core.Credentials, error) {
			return core.MQTTCredentials(dev, core.CredentialOptions{
				Method: method, Expiry: cfg.MQTT.UsernameExpiry, Now: d.clock.Now,
			})
		},
		KeepAlive:       cfg.MQTT.KeepAlive,
		CleanSession:    cfg.MQTT.CleanSession,
		ConnectTimeout:  cfg.MQTT.ConnectTimeout,
		MaxInflight:     cfg.MQTT.MaxInflight,
		QueueSize:       cfg.MQTT.QueueSize,
		QueueBytes:      cfg.MQTT.QueueBytes,
		MaxPayload:      cfg.MQTT.MaxPayload,
		Overflow:        cfg.MQTT.Overflow,
		DeadLetterAfter: cfg.MQTT.DeadLetterAfter,
		Outbox:          d.box,
		PublishRate:     cfg.MQTT.publishRate(),
		PublishBurst:    cfg.MQTT.PublishBurst,
	}, d.link, b, log)
	if err != nil {
		return nil, err
	}
	d.mqtt = u
	return u, nil
}

// uplinkStatus fills the uplink's part of st.
func (d *Device) uplinkStatus(st *localapi.Status) {
	st.Channel = d.cfg.channel()
	if d.module != nil {
		d.atTencentStatus(st)
		return
	}
	if d.coap != nil {
		cs := d.coap.Status()
		st.ConnectedSince, st.QueueDepth, st.Inflight = cs.ConnectedSince, cs.QueueDepth, cs.Inflight
		st.Subscriptions, st.LastError = cs.Subscriptions, cs.LastError
		st.CoAP = &localapi.CoAPStatus{TokenAge: cs.TokenAge, Counters: localapi.CoAPCounters(cs.Counters)}
		return
	}
	us := d.mqtt.Status()
	st.ConnectedSince, st.QueueDepth, st.Inflight = us.ConnectedSince, us.QueueDepth, us.Inflight
	st.Subscriptions, st.LastError = us.Subscriptions, us.LastError
	st.Queue = &localapi.QueueStatus{Memory: localapi.Bound(us.Memory), Outbox: boundToWire(us.Outbox), DeadLetters: us.DeadLetters, Parked: us.Parked}
	st.Sessions = us.Sessions
	pc := localapi.PublishCounts(us.Published)
	st.Published = &pc
}

func boundToWire(b *mqttup.Bound) *localapi.Bound {
	if b == nil {
		return nil
	}
	w := localapi.Bound(*b)
	return &w
}
