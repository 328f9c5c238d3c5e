package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/iotd/iotd/hubsim"
)

func init() { extraCommands = append(extraCommands, coapCmd) }

func coapCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "coap",
		Short: "The CoAP endpoint: counters, response mode, token expiry",
		Long: `hubsim serves CoAP over DTLS with PSKs (identity = productId+deviceName, key = the
decoded device secret) on --coap, default ` + hubsim.DefaultCoAPAddr + `, and plain CoAP on
--coap-plain when given.

  hubsim coap info                          addresses, response mode, sessions, counters
  hubsim coap mode piggyback|separate       answer publishes at once, or ACK 2.03 + CON 2.05
  hubsim coap expire PRODUCT/DEVICE         expire the device's auth tokens now (next publish: 4.01)`,
	}
	var asJSON bool
	info := &cobra.Command{
		Use:   "info",
		Short: "Show the CoAP endpoint's addresses, mode and counters",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in, err := hubsim.NewClient(g.admin).CoAPInfo(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd, in)
			}
			mode := "piggyback"
			if in.Separate {
				mode = "separate"
			}
			s := in.Stats
			fmt.Fprintf(cmd.OutOrStdout(), "dtls:       %s\nudp:        %s\nmode:       %s\ntoken ttl:  %s\nsessions:   %d\n",
				orOff(in.DTLSAddr), orOff(in.PlainAddr), mode, in.TokenTTL, in.Sessions)
			fmt.Fprintf(cmd.OutOrStdout(), "auth:       %d ok, %d refused; %d DTLS handshakes failed\n", s.AuthOK, s.AuthFailed, s.HandshakeFailed)
			fmt.Fprintf(cmd.OutOrStdout(), "publishes:  %d (%d duplicates answered from the cache)\n", s.Publishes, s.Duplicates)
			fmt.Fprintf(cmd.OutOrStdout(), "refused:    4.00 %d, 4.01 %d, 4.02 %d, 4.03 %d, 4.05 %d, 4.13 %d; malformed %d\n",
				s.BadRequest, s.Unauthorized, s.BadOption, s.Forbidden, s.MethodNotAllowed, s.TooLarge, s.Malformed)
			fmt.Fprintf(cmd.OutOrStdout(), "separate:   %d sent, %d retransmitted, %d never acknowledged\n", s.Separate, s.Retransmits, s.Unacked)
			return nil
		},
	}
	info.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	mode := &cobra.Command{
		Use:       "mode piggyback|separate",
		Short:     "Answer publishes piggy-backed (2.05 in the ACK) or separately (ACK 2.03, then CON 2.05)",
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"piggyback", "separate"},
		RunE: func(cmd *cobra.Command, args []string) error {
			var m hubsim.CoAPMode
			switch args[0] {
			case "piggyback":
			case "separate":
				m.Separate = true
			default:
				return fmt.Errorf("mode %q: use piggyback or separate", args[0])
			}
			if err := hubsim.NewClient(g.admin).SetCoAPMode(cmd.Context(), m); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "CoAP responses: %s\n", args[0])
			return nil
		},
	}

	expire := &cobra.Command{
		Use:   "expire PRODUCT/DEVICE",
		Short: "Expire a device's CoAP auth tokens now",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pid, dn, err := splitDevice(args[0])
			if err != nil {
				return err
			}
			n, err := hubsim.NewClient(g.admin).ExpireCoAPTokens(cmd.Context(), pid, dn)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "expired %d token(s) of %s/%s\n", n, pid, dn)
			return nil
		},
	}
	c.AddCommand(info, mode, expire)
	return c
}
