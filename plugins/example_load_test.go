package plugins_test

import (
	"context"
	"log"
	"log/slog"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/plugins"
)

// A daemon loads every plugin of its plugin directory and registers their
// drivers beside the built-in ones.
func Example() {
	ctx := context.Background()
	paths, err := plugins.Discover("/usr/lib/iotd/plugins")
	if err != nil {
		log.Fatal(err)
	}
	for _, path := range paths {
		p, err := plugins.Load(ctx, path, plugins.Options{Logger: slog.Default()})
		if err != nil {
			log.Printf("skipping plugin: %v", err)
			continue
		}
		defer p.Close()
		if err := plugins.Register(core.Default, p); err != nil {
			log.Fatal(err)
		}
	}
}
