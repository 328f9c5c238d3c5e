package iotdcli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/iotd/iotd/localapi"
)

func subCmd(api func() *localapi.Client) *cobra.Command {
	var qos, count int
	var asJSON bool
	c := &cobra.Command{
		Use:   "sub FILTER",
		Short: "Subscribe through the daemon and print messages as they arrive",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			n := 0
			enc := json.NewEncoder(out)
			for m, err := range api().Subscribe(cmd.Context(), args[0], qos) {
				if err != nil {
					return err
				}
				if asJSON {
					_ = enc.Encode(m)
				} else if m.PayloadBase64 != "" {
					fmt.Fprintf(out, "%s [base64] %s\n", m.Topic, m.PayloadBase64)
				} else {
					fmt.Fprintf(out, "%s %s\n", m.Topic, m.Payload)
				}
				n++
				if count > 0 && n >= count {
					return nil
				}
			}
			return nil
		},
	}
	c.Flags().IntVarP(&qos, "qos", "q", 0, "QoS 0 or 1")
	c.Flags().IntVarP(&count, "count", "n", 0, "exit after this many messages (0: run until interrupted)")
	c.Flags().BoolVar(&asJSON, "json", false, "print each message as a JSON line")
	return c
}
