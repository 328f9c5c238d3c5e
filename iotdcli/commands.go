package iotdcli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/daemon"
	"github.com/iotd/iotd/localapi"
)

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "iotd",
		Short: "Device daemon for Tencent Cloud IoT Hub",
		Long: `iotd connects a device to Tencent Cloud IoT Hub (or to hubsim, the local emulator)
through a driver chosen at run time, and offers the hub to local applications.

  iotd init --product-id ID ...   write iotd.yaml and device_info.json, check they connect
  iotd run --config iotd.yaml     run the daemon
  iotd status                     show the connection, clock offset and queue
  iotd pub TOPIC MESSAGE          publish through the daemon
  iotd sub FILTER                 print messages as they arrive
  iotd unsub FILTER               drop the cloud subscription to FILTER
  iotd drivers                    list drivers and probe them
  iotd register --config FILE     dynamic registration (product secret → device credentials)
  iotd shadow get|report|watch    the device shadow
  iotd rrpc watch|reply           answer the cloud's synchronous calls
  iotd broadcast watch            print the product's broadcasts
  iotd ota status [--watch]       firmware version and update progress
  iotd gateway list|online|...    the gateway's sub-devices
  iotd log LEVEL TEXT             upload a line with iotd's logs
  iotd conformance --driver NAME  certify a driver (or --plugin PATH); --list shows the cases
  iotd at trace|send              watch the AT modem's serial line, send it one command

A TOPIC without a slash is short for the device's own topic: "event" means
"{productId}/{deviceName}/event".`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       daemon.Version,
	}
	var socket string
	root.PersistentFlags().StringVar(&socket, "socket", "", "local API socket (default: $IOTD_SOCKET, then a per-user path)")
	sock := func() string {
		if socket != "" {
			return socket
		}
		return localapi.DefaultSocket()
	}
	var deviceName string
	root.PersistentFlags().StringVar(&deviceName, "device", "", "the daemon's device to address, when it runs several (the names under devices: in its configuration; default: $IOTD_DEVICE, then its only device)")
	api := func() *localapi.Client { return localapi.New(sock()).ForDevice(chosenDevice(deviceName)) }
	root.AddCommand(runCmd(&socket), statusCmd(api), pubCmd(api), subCmd(api), driversCmd(api),
		shadowCmd(api), rrpcCmd(api), broadcastCmd(api))
	root.AddCommand(registerCmd(), gatewayCmd(api), logCmd(api), unsubCmd(api))
	root.AddCommand(otaCmd(api), conformanceCmd(), outboxCmd(api), initCmd(), atCmd(api))
	return root
}

// chosenDevice is the device --device (flag) or IOTD_DEVICE names; ""
// addresses the daemon's only device.
func chosenDevice(flag string) string {
	if flag != "" {
		return flag
	}
	return os.Getenv("IOTD_DEVICE")
}

// pluginLoader launches the plugins of the configuration and registers their
// drivers; nil when iotd is built without plugin support.
var pluginLoader func(ctx context.Context, cfg daemon.PluginsConfig, dir string, reg *core.Registry, log *slog.Logger) (func(), error)

func runCmd(socket *string) *cobra.Command {
	var cfgPath string
	var check, connect bool
	c := &cobra.Command{
		Use:   "run --config FILE",
		Short: "Run the daemon",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfgPath == "" {
				return fmt.Errorf("run: --config is required (see iotd.sample.yaml)")
			}
			cfg, err := daemon.LoadConfig(cfgPath)
			if err != nil {
				return err
			}
			if *socket != "" {
				cfg.Socket = *socket
			}
			log := newLogger(cmd.ErrOrStderr(), cfg.Log)
			if cfg.Plugins.Dir != "" {
				if pluginLoader == nil {
					return fmt.Errorf("plugins.dir is set but this iotd was built without plugin support (-tags iotd_omit_plugins)")
				}
				closePlugins, err := pluginLoader(cmd.Context(), cfg.Plugins, cfg.PluginsDir(), core.Default, log)
				if err != nil {
					return err
				}
				defer closePlugins()
			}
			if _, err := daemon.Register(cmd.Context(), cfg, core.Default, log); err != nil {
				return err
			}
			if lim := cfg.MemoryLimitBytes(); lim > 0 && os.Getenv("GOMEMLIMIT") == "" {
				debug.SetMemoryLimit(lim)
			}
			if check {
				// A check neither takes the running daemon's outbox nor
				// sends what it holds.
				for _, nd := range cfg.DeviceConfigs() {
					off := false
					nd.Config.Outbox.Enabled = &off
				}
			}
			d, err := daemon.New(cfg, core.Default, log)
			if err != nil {
				return err
			}
			if check {
				out := cmd.OutOrStdout()
				printCheck(out, cfgPath, cfg, d)
				if !connect {
					return nil
				}
				// Every step bounds itself: a modem's first dial may
				// take minutes.
				fmt.Fprintln(out)
				return d.FirstContact(cmd.Context(), out)
			}
			return d.Run(cmd.Context())
		},
	}
	c.Flags().StringVarP(&cfgPath, "config", "c", "", "configuration file (YAML)")
	c.Flags().BoolVar(&check, "check", false, "validate the configuration and device identity, then exit")
	c.Flags().BoolVar(&connect, "connect", false, "with --check: also connect once, step by step (DNS, TCP, TLS, MQTT, clock), and exit non-zero at the first failure; it connects as the device, so the hub drops a daemon already connected for it until it reconnects")
	return c
}

// printCheck prints what `iotd run --check` found valid: each device's
// identity and what it contacts.
func printCheck(out io.Writer, cfgPath string, cfg *daemon.Config, d *daemon.Daemon) {
	units := d.Units()
	if cfg.Devices == nil {
		fmt.Fprintf(out, "%s: configuration and %s are valid (device %s)\n",
			cfgPath, cfg.DeviceInfoPath(), d.Device().ClientID())
		printContact(out, d.Contact())
		return
	}
	fmt.Fprintf(out, "%s: configuration is valid: %d devices\n", cfgPath, len(units))
	for _, u := range units {
		fmt.Fprintf(out, "\ndevice %s: %s is valid (device %s)\n", u.Name(), u.Config().DeviceInfoPath(), u.Identity().ClientID())
		printContact(out, u.Contact())
	}
}

// builtinDrivers probes this binary's own drivers, for `iotd drivers`
// when no daemon answers.
func builtinDrivers(ctx context.Context) []localapi.ProbeResult {
	return daemon.ProbeDrivers(ctx, core.Default)
}

func contextWithTimeout(cmd *cobra.Command, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), d)
}

func newLogger(w io.Writer, lc daemon.LogConfig) *slog.Logger {
	var level slog.Level
	switch strings.ToLower(lc.Level) {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: level}
	if lc.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
