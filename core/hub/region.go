package hub

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// DefaultRegion is the region of a device whose files name none: the C SDK
// falls back to the first entry of its region tables, china.
const DefaultRegion = "china"

// Ports of the hub's device services (qcloud_iot_common.h).
const (
	PortMQTTTLS      = 8883
	PortMQTTPlain    = 1883
	PortCoAP         = 5684
	PortWebSocketTLS = 443
	PortWebSocket    = 80
)

// Region is one of the hub's regions and the domains its services answer on.
// Host names of per-product services are "{productId}." + domain.
type Region struct {
	// Name is the region as device_info.json spells it ("china", "us-east").
	Name string
	// Domain serves MQTT (8883 TLS, 1883 plain) and CoAP over DTLS (5684).
	Domain string
	// WebSocketDomain serves MQTT over WebSocket (443 wss, 80 ws).
	WebSocketDomain string
	// RegistrationURL is dynamic registration's endpoint (HTTPS).
	RegistrationURL string
	// LogURL is the log upload endpoint (plain HTTP, as in every SDK).
	LogURL string
	// Confirmed says whether all of the URLs above appear in the C SDK
	// iotd follows (v3.2.3). For europe and ap-bangkok the registration and
	// log hosts come from the newer SDK's tables, which pair them with a
	// newer API; iotd keeps the v3.2.3 path on them (README lists this).
	Confirmed bool
}

// The region tables of sdk_src/utils/qcloud_iot_ca.c and
// sdk_src/internal_inc/qcloud_iot_common.h: v3.2.3 has china and us-east;
// the newer SDKs add europe and ap-bangkok and the WebSocket domains
// (QCLOUD_IOT_WEBSOCKET_MQTT_*_DOMAIN).
var regions = []Region{
	{
		Name:            "china",
		Domain:          "iotcloud.tencentdevices.com",
		WebSocketDomain: "ap-guangzhou.iothub.tencentdevices.com",
		RegistrationURL: "https://gateway.tencentdevices.com/register/dev",
		LogURL:          "http://devicelog.iot.cloud.tencent.com/cgi-bin/report-log",
		Confirmed:       true,
	},
	{
		Name:            "us-east",
		Domain:          "us-east.iotcloud.tencentdevices.com",
		WebSocketDomain: "us-east.iothub.tencentdevices.com",
		RegistrationURL: "https://us-east.gateway.tencentdevices.com/register/dev",
		LogURL:          "http://us-east.devicelog.iot.cloud.tencent.com/cgi-bin/report-log",
		Confirmed:       true,
	},
	{
		Name:            "europe",
		Domain:          "europe.iothub.tencentdevices.com",
		WebSocketDomain: "europe.iothub.tencentdevices.com",
		RegistrationURL: "https://europe.gateway.tencentdevices.com/register/dev",
		LogURL:          "http://europe.gateway.tencentdevices.com/device/reportlog",
	},
	{
		Name:            "ap-bangkok",
		Domain:          "ap-bangkok.iothub.tencentdevices.com",
		WebSocketDomain: "ap-bangkok.iothub.tencentdevices.com",
		RegistrationURL: "https://ap-bangkok.gateway.tencentdevices.com/register/dev",
		LogURL:          "http://ap-bangkok.gateway.tencentdevices.com/device/reportlog",
	},
}

// Regions lists the known regions, the default first.
func Regions() []Region { return append([]Region(nil), regions...) }

// RegionNames lists the known region names, the default first.
func RegionNames() []string {
	names := make([]string, len(regions))
	for i, r := range regions {
		names[i] = r.Name
	}
	return names
}

// LookupRegion finds a region by name; "" is DefaultRegion. Unlike the C
// SDK, which silently falls back to china for a name it does not know (and
// so connects a European device to the wrong hub), an unknown name is an
// error that lists the known ones.
func LookupRegion(name string) (Region, error) {
	if name == "" {
		name = DefaultRegion
	}
	for _, r := range regions {
		if r.Name == name {
			return r, nil
		}
	}
	return Region{}, fmt.Errorf("unknown region %q: the hub's regions are %s", name, strings.Join(RegionNames(), ", "))
}

// Service is a way a device reaches the hub.
type Service string

const (
	// MQTT over TLS (8883).
	MQTT Service = "mqtt"
	// MQTTPlain is MQTT over plain TCP (1883), for key devices.
	MQTTPlain Service = "mqtt-plain"
	// CoAP over DTLS (5684).
	CoAP Service = "coap"
	// WebSocketTLS is MQTT over WebSocket over TLS (wss, 443).
	WebSocketTLS Service = "wss"
	// WebSocket is MQTT over plain WebSocket (ws, 80).
	WebSocket Service = "ws"
	// Registration is dynamic registration (an HTTPS URL).
	Registration Service = "registration"
	// LogUpload is the log upload service (an HTTP URL).
	LogUpload Service = "logupload"
)

// Services lists every Service, in a stable order.
func Services() []Service {
	return []Service{MQTT, MQTTPlain, CoAP, WebSocketTLS, WebSocket, Registration, LogUpload}
}

// Endpoint is where product productID reaches svc in r: "host:port" for
// the connection services, a URL for Registration and LogUpload.
func (r Region) Endpoint(svc Service, productID string) (string, error) {
	hostPort := func(domain string, port int) (string, error) {
		if productID == "" {
			return "", fmt.Errorf("endpoint of %s in region %s: empty product id", svc, r.Name)
		}
		return net.JoinHostPort(productID+"."+domain, strconv.Itoa(port)), nil
	}
	switch svc {
	case MQTT:
		return hostPort(r.Domain, PortMQTTTLS)
	case MQTTPlain:
		return hostPort(r.Domain, PortMQTTPlain)
	case CoAP:
		return hostPort(r.Domain, PortCoAP)
	case WebSocketTLS:
		return hostPort(r.WebSocketDomain, PortWebSocketTLS)
	case WebSocket:
		return hostPort(r.WebSocketDomain, PortWebSocket)
	case Registration:
		return r.RegistrationURL, nil
	case LogUpload:
		return r.LogURL, nil
	}
	return "", fmt.Errorf("unknown service %q", svc)
}
