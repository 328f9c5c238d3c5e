package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/iotd/iotd/hubsim"
)

// runVerify counts the messages hubsim logged from a device on a topic
// (its admin API's message log) and checks that their "seq" fields, as
// produce sends them, come in order.
func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("edge verify", flag.ContinueOnError)
	admin := fs.String("admin", "127.0.0.1:8080", "hubsim's admin API address")
	device := fs.String("device", "", "PRODUCT/DEVICE (required)")
	topic := fs.String("topic", "", "the topic the messages were sent on (default PRODUCT/DEVICE/event)")
	want := fs.Int("want", 0, "messages expected (required)")
	wait := fs.Duration("wait", 10*time.Second, "how long to wait for them to arrive")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	pid, dn, ok := strings.Cut(*device, "/")
	if !ok || pid == "" || dn == "" || *want < 1 {
		fmt.Fprintln(stderr, "edge verify: -device PRODUCT/DEVICE and -want N (at least 1) are required")
		return errUsage
	}
	if *topic == "" {
		*topic = *device + "/event"
	}
	c := hubsim.NewClient(*admin)
	deadline := time.Now().Add(*wait)
	for {
		recs, err := c.Messages(ctx, pid, dn)
		if err != nil {
			return fmt.Errorf("hubsim at %s: %w", *admin, err)
		}
		got, denied, inOrder := count(recs, *topic)
		if got >= *want || time.Now().After(deadline) || ctx.Err() != nil {
			order := "in order"
			if !inOrder {
				order = "NOT in order"
			}
			fmt.Fprintf(stdout, "verify: hubsim logged %d of the %d messages sent on %s (%s)", got, *want, *topic, order)
			if denied > 0 {
				fmt.Fprintf(stdout, ", and refused %d", denied)
			}
			fmt.Fprintln(stdout)
			if got < *want {
				return fmt.Errorf("%d of %d messages missing at the hub (its message log keeps `hubsim serve --message-log` per device)", *want-got, *want)
			}
			if !inOrder {
				return fmt.Errorf("the messages reached the hub out of order")
			}
			return nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// count returns how many of recs are messages the device published on
// topic and the hub accepted, how many it refused, and whether the
// accepted ones' seq fields increase.
func count(recs []hubsim.Record, topic string) (got, denied int, inOrder bool) {
	inOrder = true
	last := -1
	for _, r := range recs {
		if r.Direction != hubsim.Up || r.Topic != topic {
			continue
		}
		if r.Denied {
			denied++
			continue
		}
		got++
		var p struct {
			Seq *int `json:"seq"`
		}
		if json.Unmarshal(r.PayloadBytes(), &p) == nil && p.Seq != nil {
			if *p.Seq <= last {
				inOrder = false
			}
			last = *p.Seq
		}
	}
	return got, denied, inOrder
}
