package iotdcli

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/iotd/iotd/localapi"
)

func TestPrintStatusChannel(t *testing.T) {
	rows := []struct {
		name    string
		st      localapi.Status
		want    []string
		wantNot []string
	}{
		{"mqtt", localapi.Status{Channel: "mqtt", Features: fullBuild()}, []string{"channel        mqtt\n", "clock offset   not synced yet\n", "shadow         0 requests", "rrpc ", "broadcast "},
			[]string{"coap ", "off on the CoAP channel"}},
		{"coap", localapi.Status{Channel: "coap", Features: fullBuild(), CoAP: &localapi.CoAPStatus{TokenAge: 3 * time.Minute,
			Counters: localapi.CoAPCounters{Requests: 5, Retransmissions: 2, Timeouts: 1, Reauths: 1, Separate: 3, Duplicates: 4, Malformed: 6, Refused: 7, TooLarge: 8}}},
			[]string{"channel        coap\n", "coap           auth token age 3m0s; 5 requests, 2 retransmissions, 1 timeouts, 1 re-auths (4.01), 3 separate responses, 4 duplicates, 6 malformed, 7 refused, 8 too large\n",
				"features       time sync, shadow, RRPC, broadcast and gateway are off on the CoAP channel"},
			[]string{"\nclock offset", "\nshadow", "\nrrpc", "\nbroadcast"}},
		{"coap disconnected", localapi.Status{Channel: "coap", CoAP: &localapi.CoAPStatus{}},
			[]string{"coap           auth token none; 0 requests"}, nil},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			var b bytes.Buffer
			printStatus(&b, row.st)
			for _, w := range row.want {
				assert.Contains(t, b.String(), w)
			}
			for _, w := range row.wantNot {
				assert.NotContains(t, b.String(), w)
			}
		})
	}
}

// The features of a full build: every section there, OTA off.
func fullBuild() localapi.FeatureStats {
	return localapi.FeatureStats{Shadow: &localapi.ShadowStats{}, RRPC: &localapi.RRPCStats{}, Broadcast: &localapi.BroadcastStats{},
		OTA: &localapi.OTAStatus{Disabled: true}, Gateway: &localapi.GatewayStats{}}
}

// A feature the daemon's build left out has no section in the status, and
// `iotd status` prints no line for it; one built and on prints its line.
func TestPrintStatusFeaturesLeftOut(t *testing.T) {
	var b bytes.Buffer
	printStatus(&b, localapi.Status{Channel: "mqtt"})
	for _, line := range []string{"\nshadow", "\nrrpc", "\nbroadcast", "\nota", "\ngateway", "\nlog upload"} {
		assert.NotContains(t, b.String(), line)
	}

	b.Reset()
	printStatus(&b, localapi.Status{Channel: "mqtt", Features: fullBuild()})
	assert.Contains(t, b.String(), "\nshadow ")
	assert.NotContains(t, b.String(), "\nota", "OTA built but off")
	assert.NotContains(t, b.String(), "\ngateway", "no gateway requests")

	b.Reset()
	printStatus(&b, localapi.Status{Channel: "mqtt", Features: localapi.FeatureStats{
		OTA:     &localapi.OTAStatus{Version: "1.0.0", State: localapi.OTAIdle},
		Gateway: &localapi.GatewayStats{Requests: 2, Succeeded: 2},
	}})
	assert.Contains(t, b.String(), "\nota            firmware 1.0.0, idle\n")
	assert.Contains(t, b.String(), "\ngateway        2 requests, 2 succeeded")
	assert.NotContains(t, b.String(), "\nshadow")
}
