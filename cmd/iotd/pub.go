package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/iotd/iotd/daemon"
)

func pubCmd(sock func() string) *cobra.Command {
	var qos int
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "pub TOPIC MESSAGE",
		Short: "Publish MESSAGE on TOPIC through the daemon (MESSAGE '-' reads stdin)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			msg := args[1]
			if msg == "-" {
				b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 1<<20))
				if err != nil {
					return err
				}
				msg = string(b)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			topic, err := daemon.NewClient(sock()).Publish(ctx, daemon.PublishRequest{Topic: args[0], Payload: msg, QoS: qos})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "published %d bytes to %s (qos %d)\n", len(msg), topic, qos)
			return nil
		},
	}
	c.Flags().IntVarP(&qos, "qos", "q", 0, "QoS 0 or 1")
	c.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "give up if not sent (or acknowledged, QoS 1) within this time")
	return c
}
