package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/iotd/iotd/hubsim"
)

func init() { extraCommands = append(extraCommands, logsCmd, logLevelCmd, dynregCmd) }

func logsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "logs PRODUCT/DEVICE",
		Short: "Print the log lines a device uploaded",
		Long: "Print the lines the device uploaded to POST /cgi-bin/report-log (signature checked),\n" +
			"oldest first, one per line as the device formatted them.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pid, dn, err := splitDevice(args[0])
			if err != nil {
				return err
			}
			ls, err := hubsim.NewClient(g.admin).Logs(cmd.Context(), pid, dn)
			if err != nil {
				return err
			}
			for _, l := range ls {
				fmt.Fprintln(cmd.OutOrStdout(), l.Line)
			}
			return nil
		},
	}
}

func logLevelCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "loglevel PRODUCT/DEVICE LEVEL",
		Short: "Set a device's log upload level and push it to the device",
		Long: "LEVEL: 0 (errors, only after communication errors), 1 error, 2 warning, 3 info, 4 debug.\n" +
			"The level is pushed on $log/operation/result/PRODUCT/DEVICE and answered to get_log_level.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			pid, dn, err := splitDevice(args[0])
			if err != nil {
				return err
			}
			n, err := strconv.Atoi(args[1])
			if err != nil || n < 0 || n > 4 {
				return fmt.Errorf("level %q: use 0 to 4", args[1])
			}
			if err := hubsim.NewClient(g.admin).SetLogLevel(cmd.Context(), pid, dn, n); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "log level of %s/%s set to %d\n", pid, dn, n)
			return nil
		},
	}
}

func dynregCmd(g *globals) *cobra.Command {
	var cert bool
	c := &cobra.Command{
		Use:   "dynreg PRODUCT [off|precreate|autocreate] [--cert]",
		Short: "Show or set a product's dynamic registration mode",
		Long: "off: registration refused (1011). precreate: only devices created beforehand register\n" +
			"(1020 otherwise). autocreate: unknown names are created, as KEY devices or, with --cert,\n" +
			"CERT devices. A device registers once (1021 afterwards). The endpoint is\n" +
			"POST /register/dev on the admin address.",
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl := hubsim.NewClient(g.admin)
			var s hubsim.DynregSettings
			var err error
			if len(args) == 1 {
				s, err = cl.Dynreg(cmd.Context(), args[0])
			} else {
				mode := hubsim.AuthKey
				if cert {
					mode = hubsim.AuthCert
				}
				s, err = cl.SetDynreg(cmd.Context(), args[0], hubsim.DynregSettings{Mode: args[1], AuthMode: mode})
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "product %s: dynamic registration %s", args[0], s.Mode)
			if s.Mode == hubsim.DynregAutocreate {
				fmt.Fprintf(cmd.OutOrStdout(), " (%s devices)", s.AuthMode)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "; endpoint %s\n", cl.RegisterURL())
			return nil
		},
	}
	c.Flags().BoolVar(&cert, "cert", false, "auto-create certificate devices instead of key devices")
	return c
}
