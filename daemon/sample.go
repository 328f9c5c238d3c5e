package daemon

import _ "embed"

// Sample is the annotated sample configuration (iotd.sample.yaml).
//
//go:embed iotd.sample.yaml
var Sample string
