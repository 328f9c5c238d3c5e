package localapi_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/iotd/iotd/localapi"
)

// Publish a reading through the running daemon, then show the connection's
// state. (It needs `iotd run`, so it has no output to check.)
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := localapi.New(localapi.DefaultSocket())

	rep, err := c.Publish(ctx, localapi.PublishRequest{Topic: "event", Payload: `{"t":21.5}`, QoS: 1})
	var refused *localapi.PublishError
	switch {
	case errors.Is(err, localapi.ErrNotRunning):
		log.Fatal("start the daemon first: iotd run --config iotd.yaml")
	case errors.As(err, &refused):
		log.Fatalf("%s: %s", refused.Result, refused.Reason)
	case err != nil:
		log.Fatal(err)
	}
	fmt.Println(rep.Result, "on", rep.Topic)

	st, err := c.Status(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s via %s, %d queued\n", st.Link.State, st.Link.Driver, st.QueueDepth)
}

// Print the messages on the device's control topic as they arrive, until
// ten have come.
func ExampleClient_Subscribe() {
	c := localapi.New(localapi.DefaultSocket())
	n := 0
	for m, err := range c.Subscribe(context.Background(), "control", 1) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(m.Topic, m.Payload)
		if n++; n == 10 {
			break
		}
	}
}
