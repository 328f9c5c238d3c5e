package iotdcli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/iotd/iotd/localapi"
)

func statusCmd(api func() *localapi.Client) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "status",
		Short: "Show the daemon's connection, driver, endpoint, clock offset and queue depth",
		Long: `Show the daemon's connection, driver, endpoint, clock offset and queue depth.

A daemon that runs several devices shows each, under its name, unless
--device picks one; with --json they are an object by name.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
			defer cancel()
			client := api()
			st, err := client.Status(ctx)
			var refused *localapi.Error
			if errors.As(err, &refused) && refused.StatusCode == http.StatusBadRequest && client.Device() == "" {
				return printAllStatus(ctx, cmd.OutOrStdout(), client, asJSON)
			}
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, st)
			}
			printStatus(out, st)
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// printAllStatus prints the status of each device of a daemon that runs
// several, under its name.
func printAllStatus(ctx context.Context, out io.Writer, client *localapi.Client, asJSON bool) error {
	devs, err := client.Devices(ctx)
	if err != nil {
		return err
	}
	all := map[string]localapi.Status{}
	for i, d := range devs {
		st, err := client.ForDevice(d.Name).Status(ctx)
		if err != nil {
			return fmt.Errorf("device %s: %w", d.Name, err)
		}
		if asJSON {
			all[d.Name] = st
			continue
		}
		if i > 0 {
			fmt.Fprintln(out)
		}
		fmt.Fprintf(out, "== %s (iotd --device %s status)\n", d.Name, d.Name)
		printStatus(out, st)
	}
	if asJSON {
		return printJSON(out, all)
	}
	return nil
}

func printStatus(w io.Writer, st localapi.Status) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "device\t%s/%s (%s)\n", st.ProductID, st.Device, st.AuthMode)
	state := st.Link.State
	if !st.Link.Since.IsZero() {
		state += " for " + time.Since(st.Link.Since).Round(time.Second).String()
	}
	fmt.Fprintf(tw, "connection\t%s\n", state)
	if st.Link.Err != "" {
		fmt.Fprintf(tw, "last error\t%s\n", st.Link.Err)
	}
	if st.Link.RetryIn > 0 {
		fmt.Fprintf(tw, "next attempt\tin %s (attempt %d)\n", st.Link.RetryIn.Round(time.Millisecond), st.Link.Attempt+1)
	}
	if st.Channel != "" {
		fmt.Fprintf(tw, "channel\t%s\n", st.Channel)
	}
	if c := st.CoAP; c != nil {
		token := "none"
		if c.TokenAge > 0 {
			token = "age " + c.TokenAge.Round(time.Second).String()
		}
		n := c.Counters
		fmt.Fprintf(tw, "coap\tauth token %s; %d requests, %d retransmissions, %d timeouts, %d re-auths (4.01), %d separate responses, %d duplicates, %d malformed, %d refused, %d too large\n",
			token, n.Requests, n.Retransmissions, n.Timeouts, n.Reauths, n.Separate, n.Duplicates, n.Malformed, n.Refused, n.TooLarge)
	}
	fmt.Fprintf(tw, "driver\t%s\n", st.Link.Driver)
	fmt.Fprintf(tw, "endpoint\t%s\n", st.Link.Endpoint)
	fmt.Fprintf(tw, "trust\t%s\n", st.Trust.From)
	for _, w := range st.Trust.Warnings {
		fmt.Fprintf(tw, "WARNING\t%s\n", w)
	}
	coapChannel := st.Channel == "coap"
	if coapChannel {
		fmt.Fprintf(tw, "features\ttime sync, shadow, RRPC, broadcast and gateway are off on the CoAP channel (no downlink)\n")
	} else {
		if st.LastSync.IsZero() {
			fmt.Fprintf(tw, "clock offset\tnot synced yet\n")
		} else {
			fmt.Fprintf(tw, "clock offset\t%s (synced %s ago)\n", st.ClockOffset.Round(time.Microsecond), time.Since(st.LastSync).Round(time.Second))
		}
	}
	fmt.Fprintf(tw, "queue depth\t%d (in flight %d)\n", st.QueueDepth, st.Inflight)
	if q := st.Queue; q != nil {
		fmt.Fprintf(tw, "memory queue\t%s\n", boundText(q.Memory))
		if q.Outbox != nil {
			fmt.Fprintf(tw, "outbox\t%s\n", boundText(*q.Outbox))
		} else {
			fmt.Fprintf(tw, "outbox\toff\n")
		}
		if q.DeadLetters > 0 || q.Parked > 0 {
			fmt.Fprintf(tw, "dead letters\t%d (%d parked since start; iotd outbox list)\n", q.DeadLetters, q.Parked)
		}
	}
	fmt.Fprintf(tw, "subscriptions\t%s\n", strings.Join(st.Subscriptions, ", "))
	if sh := st.Features.Shadow; sh != nil && !coapChannel {
		fmt.Fprintf(tw, "shadow\t%d requests, %d rejected, %d timeouts, %d conflicts, %d deltas applied, %d stale, %d unregistered, %d malformed, %d unknown type, %d too large\n",
			sh.Requests, sh.Rejected, sh.Timeouts, sh.Conflicts, sh.DeltasApplied, sh.Stale, sh.Unregistered, sh.Malformed, sh.UnknownType, sh.TooLarge)
	}
	if r := st.Features.RRPC; r != nil && !coapChannel {
		fmt.Fprintf(tw, "rrpc\t%d requests, %d replies, %d timeouts, %d malformed, %d hook failures, %d dropped\n",
			r.Requests, r.Replies, r.Timeouts, r.Malformed, r.HookFailures, r.Dropped)
	}
	if b := st.Features.Broadcast; b != nil && !coapChannel {
		fmt.Fprintf(tw, "broadcast\t%d received, %d hook runs, %d hook failures, %d dropped\n",
			b.Received, b.HookRuns, b.HookFailures, b.Dropped)
	}
	if o := st.Features.OTA; o != nil && !o.Disabled {
		line := fmt.Sprintf("firmware %s, %s", o.Version, o.State)
		if o.TargetVersion != "" && o.TargetVersion != o.Version {
			line += fmt.Sprintf(" (%s: %d%%)", o.TargetVersion, o.Percent)
		}
		if o.LastError != "" {
			line += ", last error: " + o.LastError
		}
		fmt.Fprintf(tw, "ota\t%s\n", line)
	}
	if g := st.Features.Gateway; g != nil && g.Requests > 0 {
		fmt.Fprintf(tw, "gateway\t%d requests, %d succeeded, %d rejected, %d timeouts, %d restores, %d malformed\n",
			g.Requests, g.Succeeded, g.Rejected, g.Timeouts, g.Restores, g.Malformed)
	}
	if l := st.Features.LogUpload; l != nil {
		fmt.Fprintf(tw, "log upload\tlevel %d, %d lines uploaded in %d posts, %d dropped, %d post errors, %d batches spooled\n",
			l.Level, l.Uploaded, l.Posts, l.Dropped, l.PostErrors, l.Spooled)
	}
	printModems(tw, st.Modems)
	fmt.Fprintf(tw, "version\t%s, up %s\n", st.Version, st.Uptime.Round(time.Second))
	tw.Flush()
}

// printJSON writes v as indented JSON, for the commands' --json.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
