package iotdcli

import (
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/iotd/iotd/localapi"
)

func gatewayCmd(api func() *localapi.Client) *cobra.Command {
	c := &cobra.Command{
		Use:   "gateway",
		Short: "Manage the gateway's sub-devices",
		Long: `A gateway device carries its sub-devices' traffic over its own connection. Sub-devices
come from features.gateway.sub_devices, from device_info.json's subDev entries, and from
` + "`iotd gateway add`" + `. Names are PRODUCT/DEVICE; with none, an operation applies to every known
sub-device (except unbind).

  iotd gateway list                         known sub-devices and their state
  iotd gateway describe                     what the hub has bound to this gateway
  iotd gateway bind|unbind PRODUCT/DEVICE ...
  iotd gateway online|offline [PRODUCT/DEVICE ...]
  iotd gateway add PRODUCT/DEVICE --secret S | --cert FILE`,
	}
	var timeout time.Duration
	c.PersistentFlags().DurationVar(&timeout, "timeout", 30*time.Second, "give up after this long")
	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List known sub-devices and their state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := contextWithTimeout(cmd, timeout)
			defer cancel()
			subs, err := api().GatewaySubDevices(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(subs)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SUB-DEVICE\tSTATE\tBOUND\tCAN BIND\tLAST ERROR")
			for _, s := range subs {
				fmt.Fprintf(tw, "%s\t%s\t%v\t%v\t%s\n", s.DeviceRef, s.State, s.Bound, s.CanBind, s.LastError)
			}
			tw.Flush()
			return nil
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	describe := &cobra.Command{
		Use:   "describe",
		Short: "Ask the hub which sub-devices are bound to this gateway",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := contextWithTimeout(cmd, timeout)
			defer cancel()
			refs, err := api().GatewayDescribe(ctx)
			if err != nil {
				return err
			}
			for _, r := range refs {
				fmt.Fprintln(cmd.OutOrStdout(), r)
			}
			return nil
		},
	}
	op := func(name, short string, min int) *cobra.Command {
		return &cobra.Command{
			Use:   name + " [PRODUCT/DEVICE ...]",
			Short: short,
			Args:  cobra.MinimumNArgs(min),
			RunE: func(cmd *cobra.Command, args []string) error {
				ctx, cancel := contextWithTimeout(cmd, timeout)
				defer cancel()
				res, err := api().GatewayOp(ctx, name, args)
				if err != nil {
					return err
				}
				for _, r := range res.Results {
					status := "ok"
					if r.Error != "" {
						status = r.Error
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%s %s: %s\n", name, r.DeviceRef, status)
				}
				if res.Error != "" {
					return errors.New(res.Error)
				}
				return nil
			},
		}
	}
	var secret, certFile string
	add := &cobra.Command{
		Use:   "add PRODUCT/DEVICE (--secret S | --cert FILE)",
		Short: "Add a sub-device at run time (bind it with `iotd gateway bind`)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := localapi.ParseDeviceRef(args[0])
			if err != nil {
				return err
			}
			sub := localapi.SubDeviceConfig{ProductID: ref.ProductID, DeviceName: ref.DeviceName, DeviceSecret: secret, CertFile: certFile}
			ctx, cancel := contextWithTimeout(cmd, timeout)
			defer cancel()
			if err := api().GatewayAdd(ctx, sub); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "added %s\n", ref)
			return nil
		},
	}
	add.Flags().StringVar(&secret, "secret", "", "the sub-device's secret (for bind signatures)")
	add.Flags().StringVar(&certFile, "cert", "", "the sub-device's certificate file (CERT sub-devices)")
	c.AddCommand(list, describe, op("online", "Bring sub-devices online", 0), op("offline", "Take sub-devices offline", 0),
		op("bind", "Bind sub-devices to this gateway (signed with their secrets)", 0),
		op("unbind", "Unbind sub-devices from this gateway", 1), add)
	return c
}

func logCmd(api func() *localapi.Client) *cobra.Command {
	var source string
	c := &cobra.Command{
		Use:   "log LEVEL TEXT",
		Short: "Upload a line with iotd's logs (features.logupload.enabled must be on)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := contextWithTimeout(cmd, 10*time.Second)
			defer cancel()
			res, err := api().Log(ctx, localapi.LogLine{Level: args[0], Source: source, Text: args[1]})
			if err == nil && !res.Accepted {
				err = errors.New("log: the uploader's queue is full; the line was dropped")
			}
			return err
		},
	}
	c.Flags().StringVar(&source, "source", "", "application name shown with the line")
	return c
}
