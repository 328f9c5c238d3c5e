package iotdcli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/iotd/iotd/localapi"
)

func unsubCmd(api func() *localapi.Client) *cobra.Command {
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "unsub FILTER",
		Short: "Drop the daemon's cloud subscription to FILTER",
		Long: `Drop the daemon's cloud subscription to FILTER at once, so that it is not
restored on the next reconnect either.

A subscription lasts while anyone holds it: every running 'iotd sub' and
iotd's own features. When the last 'iotd sub' on a filter ends, the daemon
unsubscribes it by itself; 'iotd unsub' is for dropping one now. Streams
still open on FILTER stay open but receive nothing more for it until it is
subscribed again. Unsubscribing a filter one of iotd's features uses
($shadow/..., $rrpc/..., $ota/..., ...) leaves that feature deaf until iotd
restarts or the filter is subscribed again.

FILTER is written as for 'iotd sub': "control" means
"{productId}/{deviceName}/control".`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			res, err := api().Unsubscribe(ctx, args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if !res.WasSubscribed {
				fmt.Fprintf(out, "not subscribed to %s; nothing to drop\n", res.Filter)
				return nil
			}
			fmt.Fprintf(out, "unsubscribed from %s\n", res.Filter)
			if n := res.LocalSubscribers; n > 0 {
				fmt.Fprintf(out, "%d local subscriber(s) still hold it and receive nothing more for it until it is subscribed again\n", n)
			}
			return nil
		},
	}
	c.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "give up if the broker has not answered within this time")
	return c
}
