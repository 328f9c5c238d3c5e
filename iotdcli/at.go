package iotdcli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/iotd/iotd/localapi"
)

// `iotd at` debugs the AT modem the running daemon holds: the daemon owns
// the serial port, so a terminal program cannot open it while iotd runs.

func atCmd(api func() *localapi.Client) *cobra.Command {
	c := &cobra.Command{
		Use:   "at trace|send",
		Short: "Debug the daemon's AT modem: watch its serial line, send it a command",
	}
	c.AddCommand(atTraceCmd(api), atSendCmd(api))
	return c
}

func atTraceCmd(api func() *localapi.Client) *cobra.Command {
	var port string
	var asJSON bool
	c := &cobra.Command{
		Use:   "trace",
		Short: "Print every line crossing the modem's serial port, live (secrets hidden, data as hex)",
		Long: `Print every line crossing the modem's serial port as the daemon sends and
receives it: → for what iotd wrote, ← for what the module answered. Commands
that carry a PIN or a password show their name only, socket data its length
and first bytes in hex. The daemon traces while someone listens; the driver
config's "trace": true also writes the trace to its log.

With no modem open yet the trace waits for the first one (its bring-up
included); with several, --port picks one.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client := api()
			if port == "" {
				ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
				ms, err := client.ATModems(ctx, false)
				cancel()
				if err != nil {
					return err
				}
				if len(ms) > 1 {
					return fmt.Errorf("at trace: %d modems are open (%s): name one with --port", len(ms), strings.Join(modemPorts(ms), ", "))
				}
			}
			out := cmd.OutOrStdout()
			enc := json.NewEncoder(out)
			for e, err := range client.ATTrace(cmd.Context(), port) {
				if err != nil {
					return err
				}
				if asJSON {
					err = enc.Encode(e)
				} else {
					_, err = fmt.Fprintln(out, FormatTrace(e))
				}
				if err != nil {
					return err
				}
			}
			return nil
		},
	}
	c.Flags().StringVar(&port, "port", "", "the modem's port, when the daemon has several open")
	c.Flags().BoolVar(&asJSON, "json", false, "print each event as a JSON line")
	return c
}

// FormatTrace renders a trace event as `iotd at trace` prints it:
// "15:04:05.000 → AT+CSQ".
func FormatTrace(e localapi.ATTraceEvent) string {
	dir := "←"
	switch {
	case e.Kind == localapi.TraceDropped:
		dir = "!"
	case e.Out:
		dir = "→"
	}
	return e.Time.Local().Format("15:04:05.000") + " " + dir + " " + e.Text
}

func modemPorts(ms []localapi.ModemStatus) []string {
	var ports []string
	for _, m := range ms {
		ports = append(ports, m.Port)
	}
	return ports
}

func atSendCmd(api func() *localapi.Client) *cobra.Command {
	var port string
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "send COMMAND",
		Short: "Run one AT command on the daemon's modem and print its answer",
		Long: `Run one AT command (e.g. AT+CSQ) on the modem the daemon holds, queued between
the daemon's own commands so that its sockets are not disturbed, and print
the answer's lines and its final result. The exit status is non-zero when the
result is ERROR, +CME ERROR or no answer in time. Commands that wait for a
data prompt (AT+QISEND, AT+CIPSEND, ...) or read a socket's data are refused.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			wait := 30 * time.Second
			if timeout > 0 {
				wait = timeout + 10*time.Second
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), wait)
			defer cancel()
			res, err := api().ATSend(ctx, localapi.ATSendRequest{Port: port, Command: args[0], Timeout: timeout})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, l := range res.Lines {
				fmt.Fprintln(out, l)
			}
			if res.Final != "" {
				fmt.Fprintln(out, res.Final)
			}
			if res.Error != "" {
				return errors.New(res.Error)
			}
			return nil
		},
	}
	c.Flags().StringVar(&port, "port", "", "the modem's port, when the daemon has several open")
	c.Flags().DurationVar(&timeout, "timeout", 0, "wait this long for the final result (default: the driver's command_timeout, 5s)")
	return c
}

// printModems writes the modem lines of `iotd status` and `iotd drivers`.
func printModems(tw *tabwriter.Writer, ms []localapi.ModemStatus) {
	for _, m := range ms {
		state := "up"
		if !m.Up {
			state = "not up"
		}
		fmt.Fprintf(tw, "modem\t%s on %s, %s\n", m.Driver, m.Port, state)
		if id := joinNonEmpty(", ", strings.TrimSpace(m.Model+" "+m.Firmware), prefixed("IMEI ", m.IMEI), prefixed("ICCID ", m.ICCID)); id != "" {
			fmt.Fprintf(tw, "  module\t%s\n", id)
		}
		if !m.NetworkAt.IsZero() {
			name := m.Operator
			if m.SSID != "" {
				name = m.SSID
			}
			fmt.Fprintf(tw, "  network\t%s (read %s ago)\n",
				joinNonEmpty(", ", joinNonEmpty(" ", m.Registration, quoted(name)), m.Technology), age(m.NetworkAt))
		}
		if !m.SignalAt.IsZero() {
			sig := joinNonEmpty(", ", dBm("RSSI", m.RSSI), dBm("RSRP", m.RSRP))
			if m.RSRQ != 0 {
				sig = joinNonEmpty(", ", sig, fmt.Sprintf("RSRQ %.1f dB", m.RSRQ))
			}
			if sig == "" {
				sig = "unknown"
			}
			fmt.Fprintf(tw, "  signal\t%s (read %s ago)\n", sig, age(m.SignalAt))
		}
		if m.Error != "" {
			fmt.Fprintf(tw, "  modem error\t%s\n", m.Error)
		}
	}
}

func age(t time.Time) string { return time.Since(t).Round(time.Second).String() }

func dBm(name string, v int) string {
	if v == 0 {
		return ""
	}
	return fmt.Sprintf("%s %d dBm", name, v)
}

func quoted(s string) string {
	if s == "" {
		return ""
	}
	return fmt.Sprintf("%q", s)
}

func prefixed(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}

func joinNonEmpty(sep string, parts ...string) string {
	var keep []string
	for _, p := range parts {
		if p != "" {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, sep)
}

// printDriverModems prints the modems below `iotd drivers`' table.
func printDriverModems(out io.Writer, ms []localapi.ModemStatus) {
	if len(ms) == 0 {
		return
	}
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	printModems(tw, ms)
	tw.Flush()
}
