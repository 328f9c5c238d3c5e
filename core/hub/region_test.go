package hub

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every region and service, as the SDKs' tables give them.
func TestEndpointsOfEveryRegionAndService(t *testing.T) {
	want := map[string]map[Service]string{
		"china": {
			MQTT:         "PID.iotcloud.tencentdevices.com:8883",
			MQTTPlain:    "PID.iotcloud.tencentdevices.com:1883",
			CoAP:         "PID.iotcloud.tencentdevices.com:5684",
			WebSocketTLS: "PID.ap-guangzhou.iothub.tencentdevices.com:443",
			WebSocket:    "PID.ap-guangzhou.iothub.tencentdevices.com:80",
			Registration: "https://gateway.tencentdevices.com/register/dev",
			LogUpload:    "http://devicelog.iot.cloud.tencent.com/cgi-bin/report-log",
		},
		"us-east": {
			MQTT:         "PID.us-east.iotcloud.tencentdevices.com:8883",
			MQTTPlain:    "PID.us-east.iotcloud.tencentdevices.com:1883",
			CoAP:         "PID.us-east.iotcloud.tencentdevices.com:5684",
			WebSocketTLS: "PID.us-east.iothub.tencentdevices.com:443",
			WebSocket:    "PID.us-east.iothub.tencentdevices.com:80",
			Registration: "https://us-east.gateway.tencentdevices.com/register/dev",
			LogUpload:    "http://us-east.devicelog.iot.cloud.tencent.com/cgi-bin/report-log",
		},
		"europe": {
			MQTT:         "PID.europe.iothub.tencentdevices.com:8883",
			MQTTPlain:    "PID.europe.iothub.tencentdevices.com:1883",
			CoAP:         "PID.europe.iothub.tencentdevices.com:5684",
			WebSocketTLS: "PID.europe.iothub.tencentdevices.com:443",
			WebSocket:    "PID.europe.iothub.tencentdevices.com:80",
			Registration: "https://europe.gateway.tencentdevices.com/register/dev",
			LogUpload:    "http://europe.gateway.tencentdevices.com/device/reportlog",
		},
		"ap-bangkok": {
			MQTT:         "PID.ap-bangkok.iothub.tencentdevices.com:8883",
			MQTTPlain:    "PID.ap-bangkok.iothub.tencentdevices.com:1883",
			CoAP:         "PID.ap-bangkok.iothub.tencentdevices.com:5684",
			WebSocketTLS: "PID.ap-bangkok.iothub.tencentdevices.com:443",
			WebSocket:    "PID.ap-bangkok.iothub.tencentdevices.com:80",
			Registration: "https://ap-bangkok.gateway.tencentdevices.com/register/dev",
			LogUpload:    "http://ap-bangkok.gateway.tencentdevices.com/device/reportlog",
		},
	}
	require.Equal(t, []string{"china", "us-east", "europe", "ap-bangkok"}, RegionNames())
	for _, name := range RegionNames() {
		r, err := LookupRegion(name)
		require.NoError(t, err)
		for _, svc := range Services() {
			got, err := r.Endpoint(svc, "PID")
			require.NoError(t, err, "%s %s", name, svc)
			assert.Equal(t, want[name][svc], got, "%s %s", name, svc)
		}
		assert.Len(t, want[name], len(Services()), "the table covers every service")
	}
}

func TestLookupRegion(t *testing.T) {
	r, err := LookupRegion("")
	require.NoError(t, err)
	assert.Equal(t, "china", r.Name, "no region is the SDK's default")

	_, err = LookupRegion("ap-guangzhou")
	require.Error(t, err)
	assert.Equal(t, `unknown region "ap-guangzhou": the hub's regions are china, us-east, europe, ap-bangkok`, err.Error())

	_, err = LookupRegion("China")
	require.Error(t, err, "names are matched exactly, as the SDK's strcmp does")
}

func TestEndpointErrors(t *testing.T) {
	r, _ := LookupRegion("china")
	_, err := r.Endpoint(MQTT, "")
	require.ErrorContains(t, err, "empty product id")
	_, err = r.Endpoint("amqp", "PID")
	require.ErrorContains(t, err, `unknown service "amqp"`)
}

func TestRegionsIsACopy(t *testing.T) {
	rs := Regions()
	rs[0].Domain = "evil.example"
	r, _ := LookupRegion("china")
	assert.False(t, strings.Contains(r.Domain, "evil"))
}
