package daemon

// The daemon links no feature; its tests run it with every built-in one,
// as cmd/iotd does (builtin_feature_*.go).
import (
	_ "github.com/iotd/iotd/features/broadcast"
	_ "github.com/iotd/iotd/features/gateway"
	_ "github.com/iotd/iotd/features/logupload"
	_ "github.com/iotd/iotd/features/ota"
	_ "github.com/iotd/iotd/features/rrpc"
	_ "github.com/iotd/iotd/features/shadow"
	_ "github.com/iotd/iotd/features/timesync"
)
