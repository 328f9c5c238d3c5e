package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/iotd/iotd/hubsim"
	"github.com/iotd/iotd/internal/pprofserve"
)

// globals are the flags every command shares.
type globals struct {
	admin string
	state string
}

func newRootCmd() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "hubsim",
		Short:         "Local emulator of Tencent Cloud IoT Hub's device side",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.admin, "admin", hubsim.DefaultAdminAddr, "admin API address (serve: listen; others: connect)")
	root.PersistentFlags().StringVar(&g.state, "state", hubsim.DefaultStateDir, "state directory (CA, certificates, registry)")
	root.AddCommand(serveCmd(g), deviceCmd(g), productCmd(g), pubCmd(g), messagesCmd(g))
	for _, f := range extraCommands {
		root.AddCommand(f(g))
	}
	return root
}

func serveCmd(g *globals) *cobra.Command {
	var tlsAddr, tcpAddr, wsAddr, wssAddr, coapAddr, coapPlainAddr, level string
	var coapSeparate bool
	var pprofAddr string
	var maxPayload, publishBurst, messageLog, writeQueue int
	var publishRate float64
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run the emulator until interrupted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var lv slog.Level
			if err := lv.UnmarshalText([]byte(level)); err != nil {
				return fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: lv}))
			if pprofAddr != "" {
				stop, err := pprofserve.Serve(pprofAddr)
				if err != nil {
					return err
				}
				defer stop()
			}
			h, err := hubsim.Start(cmd.Context(), hubsim.Config{
				StateDir: g.state, TLSAddr: tlsAddr, TCPAddr: tcpAddr, AdminAddr: g.admin, Logger: log,
				WSAddr: wsAddr, WSSAddr: wssAddr,
				CoAPAddr: coapAddr, CoAPPlainAddr: coapPlainAddr, CoAPSeparate: coapSeparate,
				MaxPayload: maxPayload, PublishRate: publishRate, PublishBurst: publishBurst,
				MessageLog: messageLog, WriteQueue: writeQueue,
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "hubsim: MQTT TLS %s, MQTT TCP %s, MQTT WebSocket %s, MQTT WebSocket TLS %s, CoAP DTLS %s, CoAP UDP %s, admin %s, CA %s\n",
				orOff(h.TLSAddr()), orOff(h.TCPAddr()), orOff(h.WSAddr()), orOff(h.WSSAddr()), orOff(h.CoAPAddr()), orOff(h.CoAPPlainAddr()), orOff(h.AdminURL()), h.CAFile())
			fmt.Fprintf(cmd.OutOrStdout(), "hubsim: per device: payload %s, publish rate %s\n", payloadLimit(h.Limits()), rateLimit(h.Limits()))
			<-cmd.Context().Done()
			return h.Close()
		},
	}
	c.Flags().StringVar(&tlsAddr, "tls", hubsim.DefaultTLSAddr, `MQTT over TLS listen address ("-" disables)`)
	c.Flags().StringVar(&tcpAddr, "tcp", hubsim.DefaultTCPAddr, `MQTT over plain TCP listen address ("-" disables)`)
	c.Flags().StringVar(&wsAddr, "ws", hubsim.Off, `MQTT over WebSocket listen address, ws:// (e.g. 127.0.0.1:8083; any path, subprotocol mqtt; "-" disables)`)
	c.Flags().StringVar(&wssAddr, "wss", hubsim.Off, `MQTT over WebSocket in TLS listen address, wss:// (e.g. 127.0.0.1:8084; client certificate optional, as on --tls; "-" disables)`)
	c.Flags().StringVar(&coapAddr, "coap", hubsim.DefaultCoAPAddr, `CoAP over DTLS (PSK) listen address, UDP ("-" disables)`)
	c.Flags().StringVar(&coapPlainAddr, "coap-plain", hubsim.Off, `plain CoAP listen address, UDP; no DTLS, so an auth request is trusted for the device it names ("-" disables)`)
	c.Flags().BoolVar(&coapSeparate, "coap-separate", false, "answer CoAP publishes with ACK 2.03 and a separate CON 2.05")
	c.Flags().StringVar(&level, "log-level", "info", "log level: debug, info, warn, error")
	c.Flags().IntVar(&maxPayload, "max-payload", hubsim.DefaultMaxPayload,
		"largest MQTT publish payload in bytes; a larger one closes the connection, as on the hub (negative: no limit)")
	c.Flags().Float64Var(&publishRate, "publish-rate", hubsim.DefaultPublishRate,
		"publishes per second a device may send (hubsim's choice; the hub's figure is not published); more closes the connection (negative: no limit)")
	c.Flags().IntVar(&publishBurst, "publish-burst", 0, "publishes a device may send back to back (0: two seconds' worth of --publish-rate)")
	c.Flags().IntVar(&messageLog, "message-log", 256, "messages kept per device for `hubsim messages` (negative: none, for a fleet of thousands)")
	c.Flags().IntVar(&writeQueue, "write-queue", 256, "publishes to one device that may wait to be written before the next ones are dropped")
	c.Flags().StringVar(&pprofAddr, "pprof", "", "serve net/http/pprof on this address (profiling a fleet's hub)")
	_ = c.Flags().MarkHidden("pprof")
	return c
}

func payloadLimit(l hubsim.Limits) string {
	if l.MaxPayload == 0 {
		return "unlimited"
	}
	return fmt.Sprintf("up to %d bytes", l.MaxPayload)
}

func rateLimit(l hubsim.Limits) string {
	if l.PublishRate == 0 {
		return "unlimited"
	}
	return fmt.Sprintf("%g/s, burst %d", l.PublishRate, l.PublishBurst)
}

func orOff(s string) string {
	if s == "" {
		return "off"
	}
	return s
}

func deviceCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "device", Short: "Create and inspect devices"}
	var cert bool
	var out string
	create := &cobra.Command{
		Use:   "create PRODUCT DEVICE --out device_info.json",
		Short: "Create a device (and its product) and write its device_info.json",
		Long: "Create a device and write its identity in the C SDK's device_info.json layout, with the\n" +
			"hubsim CA (hubsim-ca.pem) next to it and, for --cert, DEVICE.crt and DEVICE.key.\n" +
			"Uses the running hubsim at --admin, or the --state directory when none runs.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			mode := hubsim.AuthKey
			if cert {
				mode = hubsim.AuthCert
			}
			via, err := createDevice(cmd.Context(), g, args[0], args[1], mode, out)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created %s device %s/%s (%s); wrote %s\n", mode, args[0], args[1], via, out)
			return nil
		},
	}
	create.Flags().BoolVar(&cert, "cert", false, "certificate authentication (default: device secret)")
	create.Flags().StringVar(&out, "out", "", "where to write device_info.json (required)")
	_ = create.MarkFlagRequired("out")

	var product string
	list := &cobra.Command{
		Use:   "list",
		Short: "List devices with their connection state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			devs, err := hubsim.NewClient(g.admin).Devices(cmd.Context(), product)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "DEVICE\tAUTH\tSTATE\tPUB\tRECV\tDENIED\tLAST REFUSAL")
			for _, d := range devs {
				state := "offline"
				switch {
				case d.Disabled:
					state = "disabled"
				case d.Status.Connected:
					state = "online"
				}
				refusal := "-"
				if r := d.Status.LastRefusal; r != nil {
					refusal = fmt.Sprintf("%s connack %d: %s", r.Time.Format(time.DateTime), r.Code, r.Reason)
				}
				fmt.Fprintf(tw, "%s/%s\t%s\t%s\t%d\t%d\t%d\t%s\n", d.ProductID, d.DeviceName, d.AuthMode, state,
					d.Status.Published, d.Status.Received, d.Status.DeniedPublishes+d.Status.OversizePublishes+
						d.Status.RateLimitedPublishes+d.Status.DeniedSubscribes, refusal)
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&product, "product", "", "only this product")

	show := &cobra.Command{
		Use:   "show PRODUCT/DEVICE",
		Short: "Show a device's status, subscriptions and last refusal",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pid, dn, err := splitDevice(args[0])
			if err != nil {
				return err
			}
			d, err := hubsim.NewClient(g.admin).Device(cmd.Context(), pid, dn)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "device:        %s/%s (%s)%s\n", d.ProductID, d.DeviceName, d.AuthMode, map[bool]string{true: " disabled"}[d.Disabled])
			fmt.Fprintf(w, "client id:     %s\n", d.ClientID())
			fmt.Fprintf(w, "connected:     %v %s %s\n", d.Status.Connected, d.Status.Listener, d.Status.Remote)
			st := d.Status
			fmt.Fprintf(w, "messages:      %d published, %d received, %d publishes and %d subscribes denied\n",
				st.Published, st.Received, st.DeniedPublishes, st.DeniedSubscribes)
			fmt.Fprintf(w, "refused:       %d publishes over the payload limit, %d over the rate\n",
				st.OversizePublishes, st.RateLimitedPublishes)
			fmt.Fprintf(w, "subscriptions: %s\n", strings.Join(d.Status.Subscriptions, " "))
			if r := d.Status.LastRefusal; r != nil {
				fmt.Fprintf(w, "last refusal:  %s CONNACK %d from %s: %s\n", r.Time.Format(time.RFC3339), r.Code, r.Remote, r.Reason)
			}
			if r := d.Status.LastPublishRefusal; r != nil {
				fmt.Fprintf(w, "last kick:     %s publish to %s (q%d, %d bytes), error %d, connection closed: %s\n",
					r.Time.Format(time.RFC3339), r.Topic, r.QoS, r.Bytes, r.Code, r.Reason)
			}
			return nil
		},
	}
	c.AddCommand(create, list, show)
	return c
}

// createDevice creates the device through the running hub's admin API, or
// offline in the state directory when no hub answers. It reports which.
func createDevice(ctx context.Context, g *globals, pid, dn, mode, out string) (string, error) {
	client := hubsim.NewClient(g.admin)
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	_, err := client.Info(pctx)
	cancel()
	if err == nil {
		creds, err := client.CreateDevice(ctx, pid, dn, mode)
		if err != nil {
			return "", err
		}
		if err := hubsim.WriteDeviceInfo(out, creds.Device, creds.ProductSecret, []byte(creds.CAPEM)); err != nil {
			return "", err
		}
		return "via " + client.BaseURL, nil
	}
	if !errors.Is(err, hubsim.ErrUnreachable) {
		return "", err
	}
	st, serr := hubsim.OpenState(g.state, nil)
	if serr != nil {
		if errors.Is(serr, hubsim.ErrStateLocked) {
			return "", fmt.Errorf("no hubsim answers at %s, and %w", g.admin, serr)
		}
		return "", serr
	}
	defer st.Close()
	d, err := st.Store.CreateDevice(pid, dn, mode)
	if err != nil {
		return "", err
	}
	p, err := st.Store.Product(pid)
	if err != nil {
		return "", err
	}
	if err := hubsim.WriteDeviceInfo(out, d, p.ProductSecret, st.CA.CertPEM); err != nil {
		return "", err
	}
	return "offline in " + g.state, nil
}

func productCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "product", Short: "Create and list products"}
	create := &cobra.Command{
		Use:   "create PRODUCT",
		Short: "Create a product (devices create theirs automatically)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := hubsim.NewClient(g.admin).CreateProduct(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created product %s\n", p.ProductID)
			return nil
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List products",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ps, err := hubsim.NewClient(g.admin).Products(cmd.Context())
			if err != nil {
				return err
			}
			for _, p := range ps {
				fmt.Fprintln(cmd.OutOrStdout(), p.ProductID)
			}
			return nil
		},
	}
	c.AddCommand(create, list)
	return c
}

func pubCmd(g *globals) *cobra.Command {
	var qos uint8
	c := &cobra.Command{
		Use:   "pub PRODUCT/DEVICE TOPIC MSG",
		Short: "Publish a message to a device",
		Long: "Publish MSG to a device. TOPIC is a full topic, or one level (\"control\", \"data\")\n" +
			"taken as PRODUCT/DEVICE/TOPIC.",
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			pid, dn, err := splitDevice(args[0])
			if err != nil {
				return err
			}
			r, err := hubsim.NewClient(g.admin).Publish(cmd.Context(), pid, dn, args[1], []byte(args[2]), qos)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "published %d bytes on %s (qos %d)\n", r.Bytes, r.Topic, r.QoS)
			return nil
		},
	}
	c.Flags().Uint8Var(&qos, "qos", 0, "0 or 1")
	return c
}

func messagesCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "messages PRODUCT/DEVICE",
		Short: "Print a device's message log, oldest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pid, dn, err := splitDevice(args[0])
			if err != nil {
				return err
			}
			msgs, err := hubsim.NewClient(g.admin).Messages(cmd.Context(), pid, dn)
			if err != nil {
				return err
			}
			for _, m := range msgs {
				note := ""
				if m.Denied {
					note = " DENIED (" + m.Reason + ")"
				}
				if m.Binary {
					note += " base64"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %-4s q%d %s%s %s\n", m.Time.Format(time.RFC3339Nano), m.Direction, m.QoS, m.Topic, note, m.Payload)
			}
			return nil
		},
	}
}

func splitDevice(s string) (string, string, error) {
	pid, dn, ok := strings.Cut(s, "/")
	if !ok || pid == "" || dn == "" || strings.Contains(dn, "/") {
		return "", "", fmt.Errorf("device %q: write it as PRODUCT/DEVICE", s)
	}
	return pid, dn, nil
}
