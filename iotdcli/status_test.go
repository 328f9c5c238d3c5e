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
		{"mqtt", localapi.Status{Channel: "mqtt"}, []string{"channel        mqtt\n", "clock offset   not synced yet\n", "shadow         0 requests", "rrpc ", "broadcast "},
			[]string{"coap ", "off on the CoAP channel"}},
		{"coap", localapi.Status{Channel: "coap", CoAP: &localapi.CoAPStatus{TokenAge: 3 * time.Minute,
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
