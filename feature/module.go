package feature

import (
	"context"
	"log/slog"
	"net/http"
)

// Module describes a feature to the daemon. It is a value registered once,
// from the feature package's init, with [Register].
type Module struct {
	// Name is the feature's key under `features:` in the configuration
	// file, and its key in the status's "features". Lowercase, [a-z0-9_].
	Name string
	// Config returns a new, empty config section (a pointer), which the
	// daemon decodes the module's section into. Its zero value is the
	// default: Enabled on it says whether the feature is on when the file
	// does not mention it.
	Config func() Section
	// Needs is what the feature needs of the channel. When the channel
	// lacks one, the daemon switches the feature off and says so.
	Needs Needs
	// Logs marks a feature that implements [LogSink]: the daemon builds it
	// before anything else so that everything after logs through it too.
	Logs bool
	// New builds the feature from its decoded, validated section (the value
	// Config returned) and the shared environment. It does no I/O.
	New func(sec Section, env *Env) (Feature, error)
}

// Default reports whether the feature is on when the configuration does
// not mention it.
func (m Module) Default() bool { return m.Config().Enabled() }

// Section is a feature's configuration section, decoded from YAML (field
// tags `yaml:"..."`). Implement it on a pointer.
type Section interface {
	// Enabled reports whether the section turns the feature on.
	Enabled() bool
	// Disable turns the feature off: the channel lacks what it needs.
	Disable()
	// Validate checks the values decoding alone cannot. Errors need not
	// name the section: the daemon prefixes "features.<name>".
	Validate() error
}

// Feature is a built feature.
type Feature interface {
	// Run runs the feature until ctx ends and then returns nil, after
	// every goroutine it started has stopped. An error ends the daemon.
	// A disabled feature's Run waits for ctx.
	Run(ctx context.Context) error
}

// Idler is a feature that may have nothing to do with its configuration
// (the OTA module for sub-devices when none is listed). When Idle reports
// true before Run would start, Run is not called: a Run that only waits
// for ctx costs a goroutine, and a process with thousands of devices
// (cmd/fleet) holds one per device and feature.
type Idler interface {
	Idle() bool
}

// Router is a feature with local API routes.
type Router interface {
	// Routes mounts the feature's handlers on mux, with method and path
	// ("GET "+localapi.PathShadow); the bodies are localapi's wire types.
	// The daemon has read a request's body already, at most
	// localapi.MaxRequestBody bytes.
	Routes(mux *http.ServeMux)
}

// Reporter is a feature with a status section.
type Reporter interface {
	// Status returns the feature's section of GET /v1/status's
	// "features", a value of localapi's wire types (localapi.ShadowStats,
	// ...) that goes under the module's name; nil leaves it out.
	Status() any
}

// LogSink is a feature that takes the daemon's log lines (log upload).
// Its module sets Logs.
type LogSink interface {
	// Handler is the handler the daemon tees its logger into; nil when
	// the feature is off.
	Handler() slog.Handler
}

// Needs are capabilities of the channel a feature may need.
type Needs struct {
	// Downlink: messages from the hub (MQTT subscriptions). The coap
	// channel has none.
	Downlink bool
	// HostNetwork: the host's own network, for HTTP. The at-tencent
	// channel has none: the module is the MQTT client and offers no socket.
	HostNetwork bool
}

// missing returns what of n caps lacks, by name.
func (n Needs) missing(caps Caps) []string {
	var out []string
	if n.Downlink && !caps.Downlink {
		out = append(out, "downlink")
	}
	if n.HostNetwork && !caps.HostNetwork {
		out = append(out, "host network")
	}
	return out
}
