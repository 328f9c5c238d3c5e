package iotdcli

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/iotd/iotd/localapi"
)

func rrpcCmd(api func() *localapi.Client) *cobra.Command {
	c := &cobra.Command{
		Use:   "rrpc",
		Short: "Answer the cloud's synchronous calls (RRPC) from the command line",
		Long: `RRPC requests arrive on $rrpc/rxd/{productId}/{deviceName}/{processId}; the reply goes
to $rrpc/txd/.../{processId}. The daemon runs the hook command from features.rrpc.hook
for each request, and also streams requests to local clients:

  iotd rrpc watch                       print requests as they arrive
  iotd rrpc reply PROCESS_ID PAYLOAD    answer one (before its deadline)`,
	}
	var asJSON bool
	var count int
	watch := &cobra.Command{
		Use:   "watch",
		Short: "Print RRPC requests as they arrive",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			enc := json.NewEncoder(out)
			n := 0
			return ignoreDone(localapi.Each(api().RRPCRequests(cmd.Context()), func(r localapi.RRPCRequest) error {
				if asJSON {
					if err := enc.Encode(r); err != nil {
						return err
					}
					return countDone(&n, count)
				}
				body := r.Payload
				if r.PayloadBase64 != "" {
					body = "[base64] " + r.PayloadBase64
				}
				if _, err := fmt.Fprintf(out, "%s (reply within %s) %s\n", r.ProcessID, time.Until(r.Deadline).Round(time.Second), body); err != nil {
					return err
				}
				return countDone(&n, count)
			}))
		},
	}
	watch.Flags().BoolVar(&asJSON, "json", false, "print each request as a JSON line")
	watch.Flags().IntVarP(&count, "count", "n", 0, "exit after this many requests (0: run until interrupted)")
	var timeout time.Duration
	reply := &cobra.Command{
		Use:   "reply PROCESS_ID PAYLOAD",
		Short: "Answer the RRPC request with this process id",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := contextWithTimeout(cmd, timeout)
			defer cancel()
			if err := api().RRPCReply(ctx, args[0], []byte(args[1])); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "replied to %s\n", args[0])
			return nil
		},
	}
	reply.Flags().DurationVar(&timeout, "timeout", 10*time.Second, "give up after this long")
	c.AddCommand(watch, reply)
	return c
}

func broadcastCmd(api func() *localapi.Client) *cobra.Command {
	c := &cobra.Command{
		Use:   "broadcast",
		Short: "Messages the cloud broadcasts to every device of the product",
	}
	var asJSON bool
	var count int
	watch := &cobra.Command{
		Use:   "watch",
		Short: "Print broadcast messages as they arrive",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			enc := json.NewEncoder(out)
			n := 0
			return ignoreDone(localapi.Each(api().Broadcasts(cmd.Context()), func(m localapi.BroadcastMessage) error {
				if asJSON {
					if err := enc.Encode(m); err != nil {
						return err
					}
					return countDone(&n, count)
				}
				body := m.Payload
				if m.PayloadBase64 != "" {
					body = "[base64] " + m.PayloadBase64
				}
				if _, err := fmt.Fprintf(out, "%s %s\n", m.Topic, body); err != nil {
					return err
				}
				return countDone(&n, count)
			}))
		},
	}
	watch.Flags().BoolVar(&asJSON, "json", false, "print each message as a JSON line")
	watch.Flags().IntVarP(&count, "count", "n", 0, "exit after this many messages (0: run until interrupted)")
	c.AddCommand(watch)
	return c
}
