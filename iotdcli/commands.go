package iotdcli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/daemon"
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
		return daemon.DefaultSocket()
	}
	root.AddCommand(runCmd(&socket), statusCmd(sock), pubCmd(sock), subCmd(sock), driversCmd(sock),
		shadowCmd(sock), rrpcCmd(sock), broadcastCmd(sock))
	root.AddCommand(registerCmd(), gatewayCmd(sock), logCmd(sock), unsubCmd(sock))
	root.AddCommand(otaCmd(sock), conformanceCmd(), outboxCmd(sock), initCmd(), atCmd(sock))
	return root
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
				off := false
				cfg.Outbox.Enabled = &off
			}
			d, err := daemon.New(cfg, core.Default, log)
			if err != nil {
				return err
			}
			if check {
				out := cmd.OutOrStdout()
				fmt.Fprintf(out, "%s: configuration and %s are valid (device %s)\n",
					cfgPath, cfg.DeviceInfoPath(), d.Device().ClientID())
				printContact(out, d.Contact())
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

func statusCmd(sock func() string) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "status",
		Short: "Show the daemon's connection, driver, endpoint, clock offset and queue depth",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
			defer cancel()
			st, err := daemon.NewClient(sock()).Status(ctx)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			printStatus(out, st)
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func printStatus(w io.Writer, st daemon.Status) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "device\t%s/%s (%s)\n", st.ProductID, st.Device, st.AuthMode)
	state := st.Link.State
	if !st.Link.Since.IsZero() {
		state += " for " + time.Since(st.Link.Since).Round(time.Second).String()
	}
	fmt.Fprintf(tw, "connection\t%s\n", state)
	if st.Link.Err != "" {
		fmt.Fprintf(tw, "last error\t%s\n", st.Link.Err)
	}
	if st.Link.RetryIn > 0 {
		fmt.Fprintf(tw, "next attempt\tin %s (attempt %d)\n", st.Link.RetryIn.Round(time.Millisecond), st.Link.Attempt+1)
	}
	if st.Channel != "" {
		fmt.Fprintf(tw, "channel\t%s\n", st.Channel)
	}
	if c := st.CoAP; c != nil {
		token := "none"
		if c.TokenAge > 0 {
			token = "age " + c.TokenAge.Round(time.Second).String()
		}
		n := c.Counters
		fmt.Fprintf(tw, "coap\tauth token %s; %d requests, %d retransmissions, %d timeouts, %d re-auths (4.01), %d separate responses, %d duplicates, %d malformed, %d refused, %d too large\n",
			token, n.Requests, n.Retransmissions, n.Timeouts, n.Reauths, n.Separate, n.Duplicates, n.Malformed, n.Refused, n.TooLarge)
	}
	fmt.Fprintf(tw, "driver\t%s\n", st.Link.Driver)
	fmt.Fprintf(tw, "endpoint\t%s\n", st.Link.Endpoint)
	fmt.Fprintf(tw, "trust\t%s\n", st.Trust.From)
	for _, w := range st.Trust.Warnings {
		fmt.Fprintf(tw, "WARNING\t%s\n", w)
	}
	coapChannel := st.Channel == "coap"
	if coapChannel {
		fmt.Fprintf(tw, "features\ttime sync, shadow, RRPC, broadcast and gateway are off on the CoAP channel (no downlink)\n")
	} else {
		if st.LastSync.IsZero() {
			fmt.Fprintf(tw, "clock offset\tnot synced yet\n")
		} else {
			fmt.Fprintf(tw, "clock offset\t%s (synced %s ago)\n", st.ClockOffset.Round(time.Microsecond), time.Since(st.LastSync).Round(time.Second))
		}
	}
	fmt.Fprintf(tw, "queue depth\t%d (in flight %d)\n", st.QueueDepth, st.Inflight)
	if q := st.Queue; q != nil {
		fmt.Fprintf(tw, "memory queue\t%s\n", boundText(q.Memory))
		if q.Outbox != nil {
			fmt.Fprintf(tw, "outbox\t%s\n", boundText(*q.Outbox))
		} else {
			fmt.Fprintf(tw, "outbox\toff\n")
		}
		if q.DeadLetters > 0 || q.Parked > 0 {
			fmt.Fprintf(tw, "dead letters\t%d (%d parked since start; iotd outbox list)\n", q.DeadLetters, q.Parked)
		}
	}
	fmt.Fprintf(tw, "subscriptions\t%s\n", strings.Join(st.Subscriptions, ", "))
	if !coapChannel {
		sh := st.Features.Shadow
		fmt.Fprintf(tw, "shadow\t%d requests, %d rejected, %d timeouts, %d conflicts, %d deltas applied, %d stale, %d unregistered, %d malformed, %d unknown type, %d too large\n",
			sh.Requests, sh.Rejected, sh.Timeouts, sh.Conflicts, sh.DeltasApplied, sh.Stale, sh.Unregistered, sh.Malformed, sh.UnknownType, sh.TooLarge)
		r := st.Features.RRPC
		fmt.Fprintf(tw, "rrpc\t%d requests, %d replies, %d timeouts, %d malformed, %d hook failures, %d dropped\n",
			r.Requests, r.Replies, r.Timeouts, r.Malformed, r.HookFailures, r.Dropped)
		b := st.Features.Broadcast
		fmt.Fprintf(tw, "broadcast\t%d received, %d hook runs, %d hook failures, %d dropped\n",
			b.Received, b.HookRuns, b.HookFailures, b.Dropped)
	}
	if o := st.Features.OTA; !o.Disabled {
		line := fmt.Sprintf("firmware %s, %s", o.Version, o.State)
		if o.TargetVersion != "" && o.TargetVersion != o.Version {
			line += fmt.Sprintf(" (%s: %d%%)", o.TargetVersion, o.Percent)
		}
		if o.LastError != "" {
			line += ", last error: " + o.LastError
		}
		fmt.Fprintf(tw, "ota\t%s\n", line)
	}
	if g := st.Features.Gateway; g.Requests > 0 {
		fmt.Fprintf(tw, "gateway\t%d requests, %d succeeded, %d rejected, %d timeouts, %d restores, %d malformed\n",
			g.Requests, g.Succeeded, g.Rejected, g.Timeouts, g.Restores, g.Malformed)
	}
	if l := st.Features.LogUpload; l != nil {
		fmt.Fprintf(tw, "log upload\tlevel %d, %d lines uploaded in %d posts, %d dropped, %d post errors, %d batches spooled\n",
			l.Level, l.Uploaded, l.Posts, l.Dropped, l.PostErrors, l.Spooled)
	}
	printModems(tw, st.Modems)
	fmt.Fprintf(tw, "version\t%s, up %s\n", st.Version, st.Uptime.Round(time.Second))
	tw.Flush()
}

func subCmd(sock func() string) *cobra.Command {
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
			err := daemon.NewClient(sock()).Subscribe(cmd.Context(), args[0], qos, func(m daemon.Message) error {
				if asJSON {
					_ = enc.Encode(m)
				} else if m.PayloadBase64 != "" {
					fmt.Fprintf(out, "%s [base64] %s\n", m.Topic, m.PayloadBase64)
				} else {
					fmt.Fprintf(out, "%s %s\n", m.Topic, m.Payload)
				}
				n++
				if count > 0 && n >= count {
					return io.EOF
				}
				return nil
			})
			if err == io.EOF {
				return nil
			}
			return err
		},
	}
	c.Flags().IntVarP(&qos, "qos", "q", 0, "QoS 0 or 1")
	c.Flags().IntVarP(&count, "count", "n", 0, "exit after this many messages (0: run until interrupted)")
	c.Flags().BoolVar(&asJSON, "json", false, "print each message as a JSON line")
	return c
}

func driversCmd(sock func() string) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "drivers",
		Short: "List drivers and probe them (the running daemon's, or this binary's built-ins)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			res, err := daemon.NewClient(sock()).Drivers(ctx)
			source := "daemon"
			if err != nil {
				res, source = core.Default.Probe(ctx, 5*time.Second), "built-in"
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(out).Encode(res)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "NAME\tTRANSPORTS\tSTATE\tDETAIL\n")
			for _, r := range res {
				ts := make([]string, len(r.Transports))
				for i, t := range r.Transports {
					ts[i] = string(t)
				}
				detail := r.Err
				if detail == "" {
					detail = r.Version
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Name, strings.Join(ts, ","), r.State, detail)
			}
			tw.Flush()
			fmt.Fprintf(out, "(%d drivers, from the %s registry)\n", len(res), source)
			if source == "daemon" {
				if ms, err := daemon.NewClient(sock()).ATModems(ctx, true); err == nil {
					printDriverModems(out, ms)
				}
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}
