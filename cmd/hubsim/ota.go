package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/iotd/iotd/hubsim"
)

func init() { extraCommands = append(extraCommands, otaCmd) }

func otaCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "ota",
		Short: "Firmware updates: push a file to a device, show what it reported",
		Long: `hubsim serves firmware over HTTPS (certificate from hubsim's CA) on its own listener,
127.0.0.1 and a free port unless ` + hubsim.OTAAddrEnv + ` says otherwise; ` + "`hubsim ota info`" + ` shows it.

  hubsim ota push PRODUCT/DEVICE FILE --version V    upload FILE and send update_firmware
  hubsim ota status PRODUCT/DEVICE                   the device's version and last progress
  hubsim ota info                                    the file server, uploads, bytes served`,
	}
	var version, md5 string
	push := &cobra.Command{
		Use:   "push PRODUCT/DEVICE FILE --version V",
		Short: "Upload FILE as firmware version V and send update_firmware to the device",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			pid, dn, err := splitDevice(args[0])
			if err != nil {
				return err
			}
			if version == "" {
				return fmt.Errorf("push: --version is required (the version the file installs)")
			}
			data, err := os.ReadFile(args[1])
			if err != nil {
				return fmt.Errorf("push: %w", err)
			}
			cl := hubsim.NewClient(g.admin)
			fw, err := cl.UploadFirmware(cmd.Context(), "", version, data)
			if err != nil {
				return err
			}
			u, err := cl.PushOTA(cmd.Context(), pid, dn, hubsim.OTAPushRequest{Firmware: fw.Name, MD5: md5})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "pushed %s (%d bytes, md5 %s) to %s/%s\n  %s\n", u.Version, u.FileSize, u.MD5, pid, dn, u.URL)
			return nil
		},
	}
	push.Flags().StringVar(&version, "version", "", "the firmware's version (required)")
	push.Flags().StringVar(&md5, "md5", "", "send this md5sum instead of the file's (to test a mismatch)")

	var asJSON bool
	status := &cobra.Command{
		Use:   "status PRODUCT/DEVICE",
		Short: "Show the version a device reported and its last update progress",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pid, dn, err := splitDevice(args[0])
			if err != nil {
				return err
			}
			st, err := hubsim.NewClient(g.admin).OTAStatus(cmd.Context(), pid, dn)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(cmd, st)
			}
			fmt.Fprintf(out, "device:   %s/%s\nversion:  %s\ntarget:   %s\nstate:    %s\n", pid, dn, orNone(st.Version), orNone(st.Target), orNone(st.State))
			if st.Percent != "" {
				fmt.Fprintf(out, "percent:  %s\n", st.Percent)
			}
			if st.ResultCode != "" && st.ResultCode != "0" {
				fmt.Fprintf(out, "result:   %s %s\n", st.ResultCode, st.ResultMsg)
			}
			return nil
		},
	}
	status.Flags().BoolVar(&asJSON, "json", false, "print the full status, reports included, as JSON")

	info := &cobra.Command{
		Use:   "info",
		Short: "Show the firmware HTTPS server, uploads and bytes served",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			i, err := hubsim.NewClient(g.admin).OTAInfo(cmd.Context())
			if err != nil {
				return err
			}
			return printJSON(cmd, i)
		},
	}
	c.AddCommand(push, status, info)
	return c
}

func orNone(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}
