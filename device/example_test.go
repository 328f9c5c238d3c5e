package device_test

import (
	"context"
	"log"
	"os"
	"os/signal"

	"github.com/iotd/iotd/device"
	_ "github.com/iotd/iotd/drivers/posix" // the tls driver
)

// A device that publishes telemetry and follows its control topic, from
// the configuration file iotd runs with.
func Example() {
	cfg, err := device.LoadConfig("/etc/iotd/iotd.yaml")
	if err != nil {
		log.Fatal(err)
	}
	d, err := device.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	go func() {
		<-d.Ready()
		sub, err := d.Subscribe(ctx, "control", 1, func(m device.Message) {
			log.Printf("%s: %s", m.Topic, m.Payload)
		})
		if err != nil {
			log.Print(err)
			return
		}
		defer sub.Cancel()
		res, err := d.Publish(ctx, "event", []byte(`{"temperature": 21.5}`), 1)
		log.Printf("publish: %s %v", res, err)
		<-ctx.Done()
	}()
	if err := d.Run(ctx); err != nil {
		log.Fatal(err)
	}
}
