package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/iotd/iotd/hubsim"
)

func init() { extraCommands = append(extraCommands, gatewayCmd) }

func gatewayCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "gateway",
		Short: "Inspect gateways and their sub-devices",
	}
	c.AddCommand(&cobra.Command{
		Use:   "list PRODUCT/DEVICE",
		Short: "List the sub-devices bound to a gateway and whether each is online",
		Long: "List the sub-devices bound to gateway PRODUCT/DEVICE (bound with the $gateway bind\n" +
			"operation) and whether each is online through it. A sub-device goes offline with the\n" +
			"gateway's offline operation or when the gateway disconnects.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pid, dn, err := splitDevice(args[0])
			if err != nil {
				return err
			}
			subs, err := hubsim.NewClient(g.admin).SubDevices(cmd.Context(), pid, dn)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if len(subs) == 0 {
				fmt.Fprintf(out, "no sub-devices bound to %s/%s\n", pid, dn)
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SUB-DEVICE\tSTATE")
			for _, s := range subs {
				state := "offline"
				if s.Online {
					state = "online"
				}
				fmt.Fprintf(tw, "%s/%s\t%s\n", s.ProductID, s.DeviceName, state)
			}
			return tw.Flush()
		},
	})
	return c
}
