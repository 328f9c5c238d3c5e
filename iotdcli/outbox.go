package iotdcli

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/iotd/iotd/localapi"
)

func outboxCmd(api func() *localapi.Client) *cobra.Command {
	c := &cobra.Command{
		Use:   "outbox",
		Short: "Show the queues and handle parked messages (dead letters)",
		Long: `A message whose sending made the broker close the connection several times
(mqtt.dead_letter_after) is parked as a dead letter so that the messages
behind it are sent. These commands show and handle parked messages.`,
	}
	c.AddCommand(outboxListCmd(api), outboxRetryCmd(api), outboxDropCmd(api))
	return c
}

func outboxListCmd(api func() *localapi.Client) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "list",
		Short: "Show the queues' use and the parked messages",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := contextWithTimeout(cmd, 10*time.Second)
			defer cancel()
			l, err := api().Outbox(ctx)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, l)
			}
			fmt.Fprintf(out, "memory queue: %s\n", boundText(l.Memory))
			if l.Outbox != nil {
				fmt.Fprintf(out, "outbox:       %s\n", boundText(*l.Outbox))
			} else {
				fmt.Fprintln(out, "outbox:       off (QoS 1 messages wait in memory)")
			}
			if len(l.DeadLetters) == 0 {
				fmt.Fprintln(out, "no parked messages")
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tTOPIC\tQOS\tSIZE\tPARKED\tREASON")
			for _, d := range l.DeadLetters {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\n", d.ID, d.Topic, d.QoS, d.Size, d.Parked.Local().Format(time.DateTime), d.Reason)
			}
			return tw.Flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON, payloads included (base64)")
	return c
}

func boundText(b localapi.Bound) string {
	return fmt.Sprintf("%d of %d messages, %s of %s", b.Messages, b.MaxMessages, sizeText(b.Bytes), sizeText(b.MaxBytes))
}

func sizeText(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

func outboxRetryCmd(api func() *localapi.Client) *cobra.Command {
	return outboxActCmd(api, "retry ID...", "Queue parked messages again (at the tail of the queue)", "retry", "queued %s again\n",
		(*localapi.Client).OutboxRetry)
}

func outboxDropCmd(api func() *localapi.Client) *cobra.Command {
	return outboxActCmd(api, "drop ID...", "Delete parked messages for good", "drop", "dropped %s\n",
		(*localapi.Client).OutboxDrop)
}

// outboxActCmd runs act on each parked message named on the command line.
func outboxActCmd(api func() *localapi.Client, use, short, verb, done string, act func(*localapi.Client, context.Context, string) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := contextWithTimeout(cmd, 10*time.Second)
			defer cancel()
			cl := api()
			for _, id := range args {
				if err := act(cl, ctx, id); err != nil {
					return fmt.Errorf("%s %s: %w", verb, id, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), done, id)
			}
			return nil
		},
	}
}
