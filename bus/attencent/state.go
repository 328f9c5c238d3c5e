package attencent

import (
	"context"
	"log/slog"
	"time"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/linkstate"
)

// setState records s (filling driver, endpoint and time) and publishes it
// on the bus, as the daemon has core.Link do for the other channels: the
// module is the link here, so the same events tell the daemon and
// `iotd status` how the connection is.
func (u *Uplink) setState(s linkstate.State) {
	s.Driver, s.Endpoint, s.Since = Driver, u.cfg.Port, time.Now()
	u.mu.Lock()
	u.state = s
	if s.State == linkstate.Connected {
		u.up, u.since = true, s.Since
	} else {
		u.up = false
	}
	u.mu.Unlock()
	u.bus.PublishLinkState(s)
}

// failed records why a session ended or could not start and reports the
// wait before the next attempt.
func (u *Uplink) failed(cause error, attempt int, delay time.Duration) {
	lvl := slog.LevelWarn
	if core.ClassOf(cause) == core.ClassInvalidConfig || cause == ErrNoTCFirmware {
		lvl = slog.LevelError
	}
	u.log.Log(context.Background(), lvl, "attencent: session ended", "err", cause, "attempt", attempt, "retry_in", delay)
	u.mu.Lock()
	u.lastErr = cause.Error()
	u.mu.Unlock()
	u.setState(linkstate.State{State: linkstate.Disconnected, Attempt: attempt, Err: cause.Error(), RetryIn: delay})
}

func (u *Uplink) setInfo(info ModuleInfo) {
	u.mu.Lock()
	u.info = info
	u.mu.Unlock()
}
