package attencent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/iotd/iotd/drivers/at"
	"github.com/iotd/iotd/drivers/serial"
)

// module is one opening of the module's port: the AT engine on it and the
// TC commands the uplink sends. Only the session goroutine calls it, so
// one TC command runs at a time: while one waits for the network the
// module answers every other line "busy p..." (tencent.md §1).
type module struct {
	cfg Config
	eng *at.Engine
}

// ModuleInfo identifies the module and its firmware, from AT+TCMODULE and
// AT+TCVER.
type ModuleInfo struct {
	Hardware   string `json:"hardware,omitempty"`
	Firmware   string `json:"firmware,omitempty"`
	SDKVersion string `json:"sdk_version,omitempty"`
}

// ErrNoTCFirmware: the module does not know the TC command set.
var ErrNoTCFirmware = errors.New("attencent: the module does not run Tencent's AT firmware: it answered ERROR to AT+TCMODULE; flash the QCloud AT firmware, or use channel: mqtt with link.driver tls over the module's sockets (over: at.<dialect>)")

// publFinals end AT+TCMQTTPUBL/PUBRAW: after the payload the firmware
// prints only the result line, with no OK of ESP-AT's.
func publFinals() []at.Final {
	var fs []at.Final
	for _, name := range []string{"+TCMQTTPUBL", "+TCMQTTPUBRAW"} {
		for _, sep := range []string{":", ": "} {
			fs = append(fs, at.Final{Text: name + sep + "OK"}, at.Final{Text: name + sep + "FAIL", Prefix: true, Fail: true})
		}
	}
	return fs
}

// openModule opens the port and starts the engine with the URC handlers.
func openModule(cfg Config, urcs []at.URC) (*module, error) {
	port, err := serial.Open(serial.Config{Name: cfg.Port, Baud: cfg.Baud})
	if err != nil {
		return nil, fmt.Errorf("attencent: %w (at_tencent.port)", err)
	}
	eng := at.New(port, at.Options{LineEnd: "\r\n", Timeout: cfg.CommandTimeout, Finals: publFinals(), Logger: cfg.Logger})
	for _, u := range urcs {
		if err := eng.HandleURC(u); err != nil {
			_ = eng.Close()
			return nil, err
		}
	}
	return &module{cfg: cfg, eng: eng}, nil
}

func (m *module) close() { _ = m.eng.Close() }

// do runs a one-phase command.
func (m *module) do(ctx context.Context, text string) (*at.Response, error) {
	return m.eng.Do(ctx, at.Command{Text: text})
}

// tc runs a two-phase TC command: OK, then the result line +<name>:OK or
// :FAIL,<code> once the module heard from the network, within the
// module's own <cmdtimeout> plus the command timeout as a margin.
func (m *module) tc(ctx context.Context, text, name string) error {
	resp, err := m.eng.Do(ctx, at.Command{
		Text: text,
		// AT+TCDEVINFOSET carries the device secret: a trace shows its
		// name only.
		Secret:       name == "+TCDEVINFOSET",
		Await:        func(l string) bool { _, ok := parseResult(l, name); return ok },
		AwaitTimeout: m.cfg.MQTTTimeout + m.cfg.CommandTimeout,
	})
	if err != nil {
		return err
	}
	return resultErr(name, nil, resp.Result)
}

// publish sends one message; for PUBL/PUBRAW the payload follows the
// prompt and the result line is the command's final result.
func (m *module) publish(ctx context.Context, p publish) error {
	if p.payload == nil {
		return m.tc(ctx, p.text, p.name)
	}
	_, err := m.eng.Do(ctx, at.Command{
		Text: p.text, Payload: p.payload, Prefix: "-",
		Timeout: m.cfg.MQTTTimeout + m.cfg.CommandTimeout,
	})
	var re *at.ResultError
	if errors.As(err, &re) {
		return resultErr(p.name, nil, re.Line)
	}
	return resultErr(p.name, err, "")
}

// FailError is a TC command's FAIL result; Code is the C SDK's code
// (-103 not connected, -108 subscription refused, ...) or the firmware's
// (202 timeout).
type FailError struct {
	Command string
	Code    int
}

func (e *FailError) Error() string {
	return fmt.Sprintf("attencent: %s:FAIL,%d%s", e.Command, e.Code, failHint(e.Code))
}

func failHint(code int) string {
	switch code {
	case 202:
		return " (no answer from the hub within at_tencent.mqtt_timeout)"
	case -103:
		return " (the module is not connected to the hub)"
	case -107:
		return " (the module holds 10 subscriptions, its limit)"
	case -108:
		return " (the hub refused the subscription: check the topic's permissions)"
	case -116, -117:
		return " (the hub refused the device: check the product id, device name and secret)"
	case -1001:
		return " (no network, DNS, TCP or TLS failure on the module's side)"
	case -1002:
		return " (the module cannot use the device secret: it is not base64)"
	}
	return ""
}

// resultErr turns a command error, or the result line of a command, into
// the error the uplink reports: nil for :OK, a *FailError for :FAIL.
func resultErr(name string, err error, line string) error {
	if err != nil {
		return err
	}
	if line == "" {
		return nil
	}
	r, ok := parseResult(line, name)
	switch {
	case !ok:
		return fmt.Errorf("attencent: %s: unexpected result %q", name, line)
	case r.ok:
		return nil
	}
	return &FailError{Command: name, Code: r.code}
}

// cme returns the +CME ERROR code in err, or -1.
func cme(err error) int {
	var ce *at.CMEError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return -1
}

// Firmware state codes (+CME ERROR, tencent.md §2.1).
const (
	cmeBadParam = 204
	cmeState    = 208
)

// prepare takes the module from an unknown state to one ready to
// connect: back in step, echo off, identified, on the network, any client
// task of an earlier run ended, the device info set.
func (m *module) prepare(ctx context.Context) (ModuleInfo, error) {
	var info ModuleInfo
	if err := m.eng.Resync(ctx); err != nil {
		return info, fmt.Errorf("attencent: no answer on %s: %w", m.cfg.Port, err)
	}
	if _, err := m.do(ctx, "ATE0"); err != nil {
		return info, err
	}
	r, err := m.do(ctx, "AT+TCMODULE")
	if errors.Is(err, at.ErrError) {
		return info, ErrNoTCFirmware
	}
	if err != nil {
		return info, err
	}
	mi := parseInfo(r.Lines)
	info.Hardware, info.Firmware = mi["Module HW name"], mi["Module FW version"]
	if r, err := m.do(ctx, "AT+TCVER"); err == nil {
		info.SDKVersion = parseInfo(r.Lines)["Tencent Cloud IoT SDK version"]
	}
	if err := m.joinWiFi(ctx); err != nil {
		return info, err
	}
	// A client task left by an earlier run (or by iotd before a restart)
	// makes AT+TCDEVINFOSET answer 208: end it. 208 here means none runs.
	if _, err := m.do(ctx, "AT+TCMQTTDISCONN"); err != nil && cme(err) != cmeState {
		return info, err
	}
	c := m.cfg
	err = m.tc(ctx, devInfoCmd(c.ProductID, c.DeviceName, c.DeviceSecret, c.Region), "+TCDEVINFOSET")
	if cme(err) == cmeBadParam {
		return info, fmt.Errorf("attencent: the module refused the device info (+CME ERROR:204): check the product id, device name, secret and region against the firmware's limits: %w", err)
	}
	return info, err
}

// connect starts the module's MQTT client and waits for its CONNACK.
func (m *module) connect(ctx context.Context) error {
	c := m.cfg
	if err := m.tc(ctx, connCmd(c.MQTTTimeout, c.KeepAlive, c.clean()), "+TCMQTTCONN"); err != nil {
		return fmt.Errorf("attencent: connect: %w", err)
	}
	return nil
}

// joinWiFi joins the configured network unless the module is on it.
func (m *module) joinWiFi(ctx context.Context) error {
	if m.cfg.SSID == "" {
		return nil
	}
	if r, err := m.do(ctx, "AT+CWJAP?"); err == nil && parseJoined(r.Lines) == m.cfg.SSID {
		return nil
	}
	_, err := m.eng.Do(ctx, at.Command{
		Text:    "AT+CWJAP=" + espQuote(m.cfg.SSID) + "," + espQuote(m.cfg.WiFiPassword),
		Timeout: joinTimeout,
	})
	if err != nil {
		return fmt.Errorf("attencent: joining Wi-Fi %q failed (check at_tencent.ssid and wifi_password): %w", m.cfg.SSID, err)
	}
	return nil
}

// joinTimeout bounds AT+CWJAP, which ESP-AT answers once the AP accepted
// the module (up to its own 15 s by default).
const joinTimeout = 20 * time.Second

// disconnect ends the client task gracefully (an MQTT DISCONNECT), so the
// hub sees the device leave rather than time out. Best effort.
func (m *module) disconnect() {
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.CommandTimeout)
	defer cancel()
	if _, err := m.do(ctx, "AT+TCMQTTDISCONN"); err != nil && cme(err) != cmeState && !strings.Contains(err.Error(), "closed") {
		m.cfg.Logger.Debug("attencent: disconnect", "err", err)
	}
}
