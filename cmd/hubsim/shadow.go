package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/iotd/iotd/hubsim"
)

func init() { extraCommands = append(extraCommands, shadowCmd) }

func shadowCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "shadow", Short: "Read a device's shadow and change its desired state"}
	get := &cobra.Command{
		Use:   "get PRODUCT/DEVICE",
		Short: "Print a device's shadow document (reported, desired, delta, version, metadata)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pid, dn, err := splitDevice(args[0])
			if err != nil {
				return err
			}
			v, err := hubsim.NewClient(g.admin).Shadow(cmd.Context(), pid, dn)
			if err != nil {
				return err
			}
			return printJSON(cmd, v)
		},
	}
	var replace bool
	desire := &cobra.Command{
		Use:   "desire PRODUCT/DEVICE key=value ...",
		Short: "Set desired values; a connected device gets the delta at once, an offline one on its next get",
		Long: "Set desired values of a device's shadow. A value that is valid JSON is used as is\n" +
			"(42, true, {\"a\":1}; null removes the key), anything else as a string.\n" +
			"Values are merged into the desired state unless --replace is given.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pid, dn, err := splitDevice(args[0])
			if err != nil {
				return err
			}
			values, err := hubsim.ParseShadowValues(args[1:])
			if err != nil {
				return err
			}
			if len(values) == 0 && !replace {
				return fmt.Errorf("no values: give key=value arguments, or --replace alone to clear desired")
			}
			v, err := hubsim.NewClient(g.admin).SetDesired(cmd.Context(), pid, dn, values, replace)
			if err != nil {
				return err
			}
			return printJSON(cmd, v)
		},
	}
	desire.Flags().BoolVar(&replace, "replace", false, "replace the whole desired state instead of merging")
	c.AddCommand(get, desire)
	return c
}

func printJSON(cmd *cobra.Command, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(cmd.OutOrStdout(), string(b))
	return err
}
