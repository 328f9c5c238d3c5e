package iotdcli

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	coapup "github.com/iotd/iotd/bus/coap"
	"github.com/iotd/iotd/daemon"
)

func TestPrintStatusChannel(t *testing.T) {
	rows := []struct {
		name    string
		st      daemon.Status
		want    []string
		wantNot []string
	}{
		{"mqtt", daemon.Status{Channel: "mqtt"}, []string{"channel        mqtt\n", "clock offset   not synced yet\n", "shadow         0 requests", "rrpc ", "broadcast "},
			[]string{"coap ", "off on the CoAP channel"}},
		{"coap", daemon.Status{Channel: "coap", CoAP: &daemon.CoAPStatus{TokenAge: 3 * time.Minute,
			Counters: coapup.Counters{Requests: 5, Retransmissions: 2, Timeouts: 1, Reauths: 1, Separate: 3, Duplicates: 4, Malformed: 6, Refused: 7, TooLarge: 8}}},
			[]string{"channel        coap\n", "coap           auth token age 3m0s; 5 requests, 2 retransmissions, 1 timeouts, 1 re-auths (4.01), 3 separate responses, 4 duplicates, 6 malformed, 7 refused, 8 too large\n",
				"features       time sync, shadow, RRPC, broadcast and gateway are off on the CoAP channel"},
			[]string{"\nclock offset", "\nshadow", "\nrrpc", "\nbroadcast"}},
		{"coap disconnected", daemon.Status{Channel: "coap", CoAP: &daemon.CoAPStatus{}},
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
