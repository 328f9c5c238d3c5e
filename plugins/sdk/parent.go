package sdk

import (
	"context"
	"log/slog"
	"os"
	"time"
)

// watchParent exits the process when its parent changes (the host died and
// the plugin was re-parented), every interval. It backs up the host's
// Pdeathsig, which Linux ties to the host thread that started the plugin.
func watchParent(ctx context.Context, ppid int, every time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if os.Getppid() != ppid {
					slog.Error("sdk: the iotd host is gone; exiting")
					os.Exit(3)
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}
