package iotdcli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/iotd/iotd/localapi"
)

func shadowCmd(api func() *localapi.Client) *cobra.Command {
	c := &cobra.Command{
		Use:   "shadow",
		Short: "Read, report and watch the device shadow",
		Long: `The device shadow is the hub's JSON document of the device's reported state and the
state the cloud desires. iotd keeps the last known copy, re-reads it after every
reconnect, and applies deltas in version order.

  iotd shadow get [--fresh]                    the document (cached, or read from the hub)
  iotd shadow report k=v ... [--clear-desired] report values (JSON values, else strings)
  iotd shadow clear-desired                    drop all desired state
  iotd shadow watch                            print deltas as they arrive`,
	}
	var timeout time.Duration
	var device string
	c.PersistentFlags().DurationVar(&timeout, "timeout", 15*time.Second, "give up after this long")
	c.PersistentFlags().StringVar(&device, "device", "", "PRODUCT/DEVICE: an online sub-device's shadow (gateway daemons)")
	client := func() *localapi.Client { return api().WithSubDevice(device) }

	var fresh, asJSON bool
	get := &cobra.Command{
		Use:   "get",
		Short: "Print the shadow document",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := contextWithTimeout(cmd, timeout)
			defer cancel()
			shadowDoc := client().Shadow
			if fresh {
				shadowDoc = client().ShadowGet
			}
			doc, err := shadowDoc(ctx)
			if err != nil {
				return err
			}
			return printDocument(cmd.OutOrStdout(), doc, asJSON)
		},
	}
	get.Flags().BoolVar(&fresh, "fresh", false, "read the document from the hub instead of the daemon's copy")
	get.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var clear, overwrite bool
	report := &cobra.Command{
		Use:   "report KEY=VALUE ...",
		Short: "Report values (a VALUE that is valid JSON is sent as such, anything else as a string)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			vals, err := reportValues(args)
			if err != nil {
				return err
			}
			req := localapi.ShadowReport{Reported: vals, ClearDesired: clear, Overwrite: overwrite}
			ctx, cancel := contextWithTimeout(cmd, timeout)
			defer cancel()
			doc, err := client().ShadowReport(ctx, req)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "reported %d value(s); document version %d\n", len(vals), doc.Version)
			return nil
		},
	}
	report.Flags().BoolVar(&clear, "clear-desired", false, "also remove these keys from desired (the device applied them)")
	report.Flags().BoolVar(&overwrite, "overwrite", false, "replace the reported state instead of merging")

	clearCmd := &cobra.Command{
		Use:   "clear-desired",
		Short: "Remove all desired state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := contextWithTimeout(cmd, timeout)
			defer cancel()
			doc, err := client().ShadowClearDesired(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "desired cleared; document version %d\n", doc.Version)
			return nil
		},
	}

	var watchJSON bool
	var watchCount int
	watch := &cobra.Command{
		Use:   "watch",
		Short: "Print deltas (desired values that differ from reported) as they arrive",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			enc := json.NewEncoder(out)
			n := 0
			return ignoreDone(localapi.Each(client().ShadowWatch(cmd.Context()), func(d localapi.ShadowDelta) error {
				if watchJSON {
					if err := enc.Encode(d); err != nil {
						return err
					}
				} else if _, err := fmt.Fprintf(out, "version %d (%s): %s\n", d.Version, d.Source, formatState(d.State)); err != nil {
					return err
				}
				return countDone(&n, watchCount)
			}))
		},
	}
	watch.Flags().BoolVar(&watchJSON, "json", false, "print each delta as a JSON line")
	watch.Flags().IntVarP(&watchCount, "count", "n", 0, "exit after this many deltas (0: run until interrupted)")
	c.AddCommand(get, report, clearCmd, watch)
	return c
}

// reportValues turns KEY=VALUE arguments into reported values: a VALUE
// that is valid JSON is sent as such, anything else as a string.
func reportValues(args []string) (map[string]json.RawMessage, error) {
	out := make(map[string]json.RawMessage, len(args))
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("shadow: %q: write key=value (a JSON value, or text taken as a string)", a)
		}
		if json.Valid([]byte(v)) {
			out[k] = json.RawMessage(v)
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("shadow report: %s: %w", k, err)
		}
		out[k] = b
	}
	return out, nil
}

// errDone ends a watch after --count items.
var errDone = errors.New("done")

func countDone(n *int, limit int) error {
	*n++
	if limit > 0 && *n >= limit {
		return errDone
	}
	return nil
}

func ignoreDone(err error) error {
	if errors.Is(err, errDone) {
		return nil
	}
	return err
}

func formatState(m map[string]json.RawMessage) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + string(m[k])
	}
	return strings.Join(parts, " ")
}

func printDocument(w io.Writer, doc localapi.ShadowDocument, asJSON bool) error {
	if asJSON {
		return printJSON(w, doc)
	}
	fmt.Fprintf(w, "version   %d\n", doc.Version)
	fmt.Fprintf(w, "reported  %s\n", formatState(doc.Reported))
	fmt.Fprintf(w, "desired   %s\n", formatState(doc.Desired))
	fmt.Fprintf(w, "delta     %s\n", formatState(doc.Delta))
	if !doc.UpdatedAt.IsZero() {
		fmt.Fprintf(w, "as of     %s\n", doc.UpdatedAt.Format(time.RFC3339))
	}
	return nil
}
