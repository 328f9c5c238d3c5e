package iotdcli

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/iotd/iotd/localapi"
)

func TestProgressLine(t *testing.T) {
	st := localapi.OTAStatus{State: localapi.OTADownloading, TargetVersion: "2.0", Percent: 50, Bytes: 4 << 20, Size: 8 << 20}
	tests := []struct {
		name string
		st   localapi.OTAStatus
		rate float64
		tty  bool
		want string
	}{
		{"terminal bar", st, 1 << 20, true, "2.0 [###############...............]  50%  4.0 MiB / 8.0 MiB  1.0 MiB/s"},
		{"plain", st, 0, false, "2.0  50%  4.0 MiB / 8.0 MiB"},
		{"small image over a modem", localapi.OTAStatus{State: localapi.OTADownloading, TargetVersion: "1.1", Percent: 25, Bytes: 12000, Size: 48000}, 9000, true,
			"1.1 [#######.......................]  25%  11.7 KiB / 46.9 KiB  8.8 KiB/s"},
		{"failed", localapi.OTAStatus{State: localapi.OTAFailed, TargetVersion: "2.0", ResultCode: -4, LastError: "MD5 mismatch"}, 0, true, "2.0 failed (-4): MD5 mismatch"},
		{"burning", localapi.OTAStatus{State: localapi.OTABurning, TargetVersion: "2.0"}, 0, false, "2.0 downloaded and verified; installing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, progressLine(tt.st, tt.rate, tt.tty))
		})
	}
}
