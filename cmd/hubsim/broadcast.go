package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/iotd/iotd/hubsim"
)

func init() { extraCommands = append(extraCommands, broadcastCmd) }

func broadcastCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "broadcast PRODUCT PAYLOAD",
		Short: "Send a message to every device of a product",
		Long: "Publish PAYLOAD with QoS 1 on $broadcast/rxd/PRODUCT/{device} of every online device of\n" +
			"PRODUCT and report which devices got it (online and subscribed).",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := hubsim.NewClient(g.admin).Broadcast(cmd.Context(), args[0], []byte(args[1]))
			if err != nil {
				return err
			}
			got := "none"
			if len(r.Delivered) > 0 {
				got = strings.Join(r.Delivered, " ")
			}
			fmt.Fprintf(cmd.OutOrStdout(), "broadcast %d bytes to product %s: %d devices, %d online, delivered to %d: %s\n",
				r.Bytes, args[0], r.Devices, r.Online, len(r.Delivered), got)
			return nil
		},
	}
}
