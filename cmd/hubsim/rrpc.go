package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/iotd/iotd/hubsim"
)

func init() { extraCommands = append(extraCommands, rrpcCmd) }

func rrpcCmd(g *globals) *cobra.Command {
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "rrpc PRODUCT/DEVICE PAYLOAD [--timeout 5s]",
		Short: "Send an RRPC request to a device and print its reply",
		Long: "Publish PAYLOAD on $rrpc/rxd/PRODUCT/DEVICE/{processId} with a fresh process id and wait\n" +
			"for the device's reply on $rrpc/txd/PRODUCT/DEVICE/{processId}. The reply is printed as is;\n" +
			"no reply within --timeout is an error (exit status 1).",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			pid, dn, err := splitDevice(args[0])
			if err != nil {
				return err
			}
			if timeout <= 0 || timeout > hubsim.MaxRRPCTimeout {
				return fmt.Errorf("--timeout %s: use more than 0 and at most %s", timeout, hubsim.MaxRRPCTimeout)
			}
			r, err := hubsim.NewClient(g.admin).RRPC(cmd.Context(), pid, dn, []byte(args[1]), timeout)
			if errors.Is(err, hubsim.ErrRRPCTimeout) {
				hint := ""
				if strings.Contains(err.Error(), "not subscribed") {
					hint = fmt.Sprintf(" (it is not subscribed to $rrpc/rxd/%s/%s/+)", pid, dn)
				}
				return fmt.Errorf("timeout after %s: no reply from %s/%s%s", timeout, pid, dn, hint)
			}
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if _, err := out.Write(r.PayloadBytes()); err != nil {
				return err
			}
			fmt.Fprintln(out)
			return nil
		},
	}
	c.Flags().DurationVar(&timeout, "timeout", hubsim.DefaultRRPCTimeout, "how long to wait for the reply")
	return c
}
