package outbox_test

import (
	"path/filepath"
	"testing"

	"github.com/iotd/iotd/bus/outbox"
	"github.com/iotd/iotd/bus/outbox/outboxtest"
)

// TestStoreContract runs the outbox.Store contract on the file.
func TestStoreContract(t *testing.T) {
	outboxtest.Run(t, func(t *testing.T) outboxtest.Opener {
		path := filepath.Join(t.TempDir(), "outbox.db")
		return func(_ *testing.T, opts outbox.Options) (outbox.Store, error) {
			opts.Sync = outbox.SyncNever
			return outbox.Open(path, opts)
		}
	})
}
