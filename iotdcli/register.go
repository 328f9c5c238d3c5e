package iotdcli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/daemon"
)

func registerCmd() *cobra.Command {
	var cfgPath string
	c := &cobra.Command{
		Use:   "register --config FILE",
		Short: "Register the device with the hub (dynamic registration), then exit",
		Long: `With a device_info.json that has productId, deviceName and productSecret but no device
secret (or certificate), ask the hub for the device's credentials and write them into the
file atomically. A device that already has credentials is left alone. ` + "`iotd run`" + ` does the
same before connecting.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfgPath == "" {
				return fmt.Errorf("register: --config is required")
			}
			cfg, err := daemon.LoadConfig(cfgPath)
			if err != nil {
				return err
			}
			ctx, cancel := contextWithTimeout(cmd, time.Minute)
			defer cancel()
			registered, err := daemon.Register(ctx, cfg, core.Default, newLogger(cmd.ErrOrStderr(), cfg.Log))
			if err != nil {
				return err
			}
			if registered {
				fmt.Fprintf(cmd.OutOrStdout(), "registered; credentials written to %s\n", cfg.DeviceInfoPath())
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "%s already has credentials; nothing to do\n", cfg.DeviceInfoPath())
			}
			return nil
		},
	}
	c.Flags().StringVarP(&cfgPath, "config", "c", "", "configuration file (YAML)")
	return c
}
