package iotdcli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/iotd/iotd/localapi"
)

func driversCmd(api func() *localapi.Client) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "drivers",
		Short: "List drivers and probe them (the running daemon's, or this binary's built-ins)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			res, err := api().Drivers(ctx)
			source := "daemon"
			if err != nil {
				res, source = builtinDrivers(ctx), "built-in"
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(out).Encode(res)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "NAME\tTRANSPORTS\tSTATE\tDETAIL\n")
			for _, r := range res {
				detail := r.Err
				if detail == "" {
					detail = r.Version
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Name, strings.Join(r.Transports, ","), r.State, detail)
			}
			tw.Flush()
			fmt.Fprintf(out, "(%d drivers, from the %s registry)\n", len(res), source)
			if source == "daemon" {
				if ms, err := api().ATModems(ctx, true); err == nil {
					printDriverModems(out, ms)
				}
			}
			printLocalSerialPorts(out) // drivers_ports.go
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}
