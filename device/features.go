package device

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/iotd/iotd/bus/attencent"
	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/hub"
	"github.com/iotd/iotd/feature"
	"github.com/iotd/iotd/localapi"
)

// A device knows no feature by name: it builds every registered module
// (package feature) over one environment, runs them and reports their
// status sections; Routes mounts their local API routes.

// builtFeature is a module's feature, with the module's name.
type builtFeature struct {
	name string
	feature.Feature
}

// featureEnv returns the environment the features are built over, and
// switches off the enabled features the channel cannot carry: what each
// missing capability switched off, for logFeaturesOff. Firmware is set
// once the uplink exists.
func (d *Device) featureEnv() (*feature.Env, map[string][]string) {
	channel := d.cfg.channel()
	caps := feature.Caps{Channel: channel, Downlink: channel != ChannelCoAP, HostNetwork: channel != ChannelATTencent}
	region, _ := d.cfg.region(d.device) // checked by linkConfig
	env := &feature.Env{
		Bus: d.bus, Clock: d.clock, Device: d.device, StateDir: d.cfg.StateDirPath(), Log: d.log,
		Link: d.linkState, Caps: caps, Region: region, Path: d.cfg.Path,
		HTTP: func(driverName string, tlsConfig *tls.Config) (http.RoundTripper, error) {
			dc, err := d.cfg.driverJSON(driverName)
			if err != nil {
				return nil, err
			}
			if tlsConfig != nil {
				return d.reg.HTTPTransport(driverName, dc, tlsConfig)
			}
			// The default roots are loaded at the first https request.
			plain, err := d.reg.HTTPTransport(driverName, dc, &tls.Config{MinVersion: tls.VersionTLS12})
			if err != nil {
				return nil, err
			}
			return &lazyHTTPS{plain: plain, build: func() (http.RoundTripper, error) {
				tlsConfig, err := hub.ServiceTLS("")
				if err != nil {
					return nil, err
				}
				return d.reg.HTTPTransport(driverName, dc, tlsConfig)
			}}, nil
		},
	}
	mods, secs := feature.Modules(), d.cfg.sections()
	configOff := map[string]bool{}
	for _, m := range mods {
		if sec := secs[m.Name]; sec == nil || !sec.Enabled() {
			configOff[m.Name] = true
		}
	}
	off := feature.Unmet(mods, secs, caps)
	d.contactFeatures(mods, secs, configOff, off)
	return env, off
}

// contactFeatures records in d.contact which modules will run and why the
// others will not: configOff are those their sections left off, off what
// each missing capability of the channel switched off (feature.Unmet).
func (d *Device) contactFeatures(mods []feature.Module, secs map[string]feature.Section, configOff map[string]bool, off map[string][]string) {
	needs := map[string][]string{}
	for need, names := range off {
		for _, name := range names {
			needs[name] = append(needs[name], need)
		}
	}
	c := &d.contact
	c.Features, c.FeaturesOff, c.LogUpload = nil, nil, false
	for _, m := range mods {
		sec := secs[m.Name]
		switch {
		case configOff[m.Name] && m.Default():
			c.FeaturesOff = append(c.FeaturesOff, FeatureOff{Name: m.Name, Why: "disabled in the configuration"})
		case configOff[m.Name]:
			c.FeaturesOff = append(c.FeaturesOff, FeatureOff{Name: m.Name, Why: "not enabled in the configuration"})
		case len(needs[m.Name]) > 0:
			slices.Sort(needs[m.Name])
			c.FeaturesOff = append(c.FeaturesOff, FeatureOff{Name: m.Name,
				Why: fmt.Sprintf("switched off by channel %s: it needs %s", d.cfg.channel(), strings.Join(needs[m.Name], " and "))})
		case sec != nil && sec.Enabled():
			c.Features = append(c.Features, m.Name)
			if _, ok := sec.(interface{ LogURL() string }); ok {
				c.LogUpload = true
			}
		}
	}
}

// buildFeatures builds the modules that take log lines (logs) or the
// others, in name order.
func (d *Device) buildFeatures(env *feature.Env, logs bool) error {
	secs := d.cfg.sections()
	for _, m := range feature.Modules() {
		if m.Logs != logs {
			continue
		}
		f, err := m.New(secs[m.Name], env)
		if err != nil {
			return err
		}
		d.features = append(d.features, builtFeature{name: m.Name, Feature: f})
	}
	return nil
}

// teeLog returns log teed into the features that take log lines.
func (d *Device) teeLog(log *slog.Logger) *slog.Logger {
	hs := []slog.Handler{log.Handler()}
	for _, f := range d.features {
		if s, ok := f.Feature.(feature.LogSink); ok && s.Handler() != nil {
			hs = append(hs, s.Handler())
		}
	}
	if len(hs) == 1 {
		return log
	}
	return slog.New(slog.NewMultiHandler(hs...))
}

// logFeaturesOff says, once per missing capability, which enabled
// features the channel switched off.
func (d *Device) logFeaturesOff(off map[string][]string) {
	if names := off["downlink"]; len(names) > 0 {
		d.log.Warn("channel "+d.cfg.channel()+": features that need MQTT downlink are off: "+strings.Join(names, ", ")+"; OTA and publishing work (use channel: mqtt for the rest)",
			"disabled", names)
	}
	if names := off["host network"]; len(names) > 0 {
		d.log.Warn(fmt.Sprintf("channel %s: features that need the host's own network are off: %v (sub_device_ota: the module downloads firmware only for the device whose identity it holds, into one image slot; logupload: an HTTP post); publishing, subscriptions, shadow, rrpc, broadcast, time sync, gateway and the device's own OTA work through the module (use channel: mqtt over the module's sockets for the rest)", d.cfg.channel(), names),
			"disabled", names)
	}
}

// featureStatus is the status's "features": each module's section under
// its name, through JSON into the wire type.
func (d *Device) featureStatus() localapi.FeatureStats {
	secs := map[string]any{}
	for _, f := range d.features {
		if r, ok := f.Feature.(feature.Reporter); ok {
			if v := r.Status(); v != nil {
				secs[f.name] = v
			}
		}
	}
	var out localapi.FeatureStats
	if b, err := json.Marshal(secs); err == nil {
		if err := json.Unmarshal(b, &out); err != nil {
			d.log.Debug("status: a feature's section does not fit", "err", err)
		}
	}
	return out
}

// sections returns the features' config sections by module name; those
// the file did not have get their defaults.
func (c *Config) sections() map[string]feature.Section {
	if c.Features == nil {
		c.Features = map[string]feature.Section{}
	}
	for _, m := range feature.Modules() {
		if c.Features[m.Name] == nil {
			c.Features[m.Name] = m.Config()
		}
	}
	return c.Features
}

// logURL is the log service URL a feature's section configures (a
// section with a LogURL method: log upload's), for `iotd contact`.
func (c *Config) logURL() string {
	for _, sec := range c.sections() {
		if l, ok := sec.(interface{ LogURL() string }); ok && l.LogURL() != "" {
			return l.LogURL()
		}
	}
	return ""
}

// validateFeatures validates each feature's section.
func (c *Config) validateFeatures() error {
	field, err := feature.ValidateSections(feature.Modules(), c.sections())
	if err == nil {
		return nil
	}
	var ce *core.ConfigError
	if errors.As(err, &ce) && ce.Field != "" {
		return &core.ConfigError{Source: "config", Field: field + "." + ce.Field, Msg: ce.Msg}
	}
	return &core.ConfigError{Source: "config", Field: field, Msg: err.Error()}
}

// moduleFirmware is the at-tencent module as a feature.FirmwareModule:
// the OTA feature installs what it downloads.
type moduleFirmware struct{ u *attencent.Uplink }

func (m moduleFirmware) SetVersion(v string) { m.u.SetOTAVersion(v) }

func (m moduleFirmware) Events(ctx context.Context) <-chan feature.FirmwareEvent {
	out := make(chan feature.FirmwareEvent)
	go func() {
		defer close(out)
		for {
			var ev attencent.OTAEvent
			select {
			case <-ctx.Done():
				return
			case ev = <-m.u.OTAEvents():
			}
			fe := feature.FirmwareEvent{Code: ev.Code}
			switch ev.Kind {
			case attencent.OTADownloading:
				fe.Kind = feature.FirmwareDownloading
			case attencent.OTADownloaded:
				fe.Kind = feature.FirmwareDownloaded
			case attencent.OTAFailed:
				fe.Kind, fe.Reason = feature.FirmwareFailed, attencent.FailReason(ev.Code)
			}
			select {
			case out <- fe:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

func (m moduleFirmware) Read(ctx context.Context, open func(feature.FirmwareInfo) (io.Writer, error)) (feature.FirmwareInfo, error) {
	fi, err := m.u.ReadFirmware(ctx, func(fi attencent.FirmwareInfo) (io.Writer, error) {
		return open(feature.FirmwareInfo(fi))
	})
	return feature.FirmwareInfo(fi), err
}

// Shadow returns the device's own shadow: read and report its document
// and watch desired-state changes. The program links the feature with
// import _ "github.com/iotd/iotd/features/shadow"; the configuration
// leaves it on unless features.shadow.disabled (channel coap, with no
// MQTT downlink, switches it off). Its methods reach the hub while Run
// runs.
func (d *Device) Shadow() (feature.ShadowAPI, error) {
	return provided(d, "shadow", feature.ShadowProvider.ShadowAPI)
}

// Gateway returns the gateway: bind, unbind, online and offline of
// sub-devices. The program links the feature with
// import _ "github.com/iotd/iotd/features/gateway"; the configuration
// leaves it on unless features.gateway.disabled (channel coap switches it
// off). Its methods reach the hub while Run runs.
func (d *Device) Gateway() (feature.GatewayAPI, error) {
	return provided(d, "gateway", feature.GatewayProvider.GatewayAPI)
}

// OTA returns the device's firmware updates: the status, an installer of
// the program's in place of the hook, and the program's own reports
// (begin, success, fail — also the confirmation of an install that runs
// after a reboot). The program links the feature with
// import _ "github.com/iotd/iotd/features/ota"; the configuration leaves
// it on unless features.ota.disabled. On channel at-tencent the module
// downloads firmware and iotd installs it with the hook: OTA returns an
// error wrapping ErrFeatureOff.
func (d *Device) OTA() (feature.OTAAPI, error) {
	api, err := provided(d, "ota", feature.OTAProvider.OTAAPI)
	if err == nil && api == nil {
		err = fmt.Errorf("%w: ota: on channel at-tencent the module downloads firmware itself; configure features.ota.hook to install it", ErrFeatureOff)
	}
	return api, err
}

// provided returns the API of module name's built feature, a provider P.
func provided[P, API any](d *Device, name string, api func(P) API) (API, error) {
	var zero API
	f, err := d.feature(name)
	if err != nil {
		return zero, err
	}
	p, ok := f.(P)
	if !ok {
		return zero, fmt.Errorf("device: the feature registered as %q offers no %T", name, &zero)
	}
	return api(p), nil
}

// Errors of the typed feature accessors; the message says what to change.
var (
	// ErrFeatureNotLinked: the program does not link the feature's package.
	ErrFeatureNotLinked = errors.New("device: feature not linked")
	// ErrFeatureOff: the configuration (or the channel) switched it off.
	ErrFeatureOff = errors.New("device: feature off")
)

// feature returns the built feature of module name, when it is linked and
// on.
func (d *Device) feature(name string) (feature.Feature, error) {
	for _, f := range d.features {
		if f.name != name {
			continue
		}
		if sec := d.cfg.sections()[name]; sec != nil && !sec.Enabled() {
			return nil, fmt.Errorf("%w: %s: the configuration sets features.%s.disabled, or channel %s cannot carry it (it needs MQTT downlink)",
				ErrFeatureOff, name, name, d.cfg.channel())
		}
		return f.Feature, nil
	}
	return nil, fmt.Errorf(`%w: %s: this program does not link the %s feature; add import _ "github.com/iotd/iotd/features/%s"`,
		ErrFeatureNotLinked, name, name, name)
}
