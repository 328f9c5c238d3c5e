package iotdcli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/iotd/iotd/localapi"
)

// otaPoll is how often a followed update is polled.
const otaPoll = 250 * time.Millisecond

func otaCmd(api func() *localapi.Client) *cobra.Command {
	c := &cobra.Command{
		Use:   "ota",
		Short: "Firmware updates pushed by the cloud",
		Long: `The daemon reports its firmware version on $ota/report, downloads what the cloud pushes
on $ota/update (resuming after interruptions), checks the MD5 and installs it with the
hook from features.ota.hook.

  iotd ota status            current version, state, percent, last error;
                             on a terminal, a live progress bar while downloading
  iotd ota status --watch    follow the current update to its end (exit status 1
                             if it fails); if it ended already, print how
  iotd ota status --watch --target 1.1.0
                             wait for the update to 1.1.0 and follow it

An install that takes effect after a reboot (A/B systems: the hook exits 3) waits in
state reboot_pending. When iotd starts on the new image and the version file shows the
new version, the update is done; otherwise confirm it after your own health check, or
reject it, within features.ota.confirm_timeout (default 10m; then it fails, -5):

  iotd ota success           the pending install runs: report done and the new version
  iotd ota fail --message "health check failed"
                             the pending install is rejected (-5 unless --code)

A program that installs firmware it got another way reports like the C SDK's
IOT_OTA_ReportUpgradeBegin/Success/Fail:

  iotd ota begin 2.0.0       report "burning" for 2.0.0
  iotd ota success 2.0.0     2.0.0 is installed: it becomes the reported version
  iotd ota fail 2.0.0 --code -4 --message "bad signature"`,
	}
	var asJSON, watch bool
	var target string
	status := &cobra.Command{
		Use:   "status",
		Short: "Show the firmware version and the state of an update",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			cl := api()
			ctx, cancel := contextWithTimeout(cmd, 10*time.Second)
			st, err := cl.OTA(ctx)
			cancel()
			if err != nil {
				return err
			}
			if asJSON && !watch {
				return json.NewEncoder(out).Encode(st)
			}
			tty := isTerminal(out)
			if target != "" {
				watch = true
			}
			if !watch && !(tty && busy(st.State)) {
				printOTA(out, st)
				return nil
			}
			return followOTA(cmd.Context(), cl, out, st, tty, asJSON, target)
		},
	}
	status.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON (with --watch: one line per change)")
	status.Flags().BoolVarP(&watch, "watch", "w", false, "follow the update until it is done or failed (if none ran yet, wait for one)")
	status.Flags().StringVar(&target, "target", "", "with --watch: follow the update to this version, waiting for it to be pushed")
	c.AddCommand(status, otaReportCmd(api, "begin", "VERSION", "Report that the device starts installing VERSION itself"),
		otaReportCmd(api, "success", "[VERSION]", "Report VERSION installed, or confirm the install waiting for its reboot"),
		otaReportCmd(api, "fail", "[VERSION]", "Report that installing VERSION failed, or reject the install waiting for its reboot"))
	return c
}

// otaReportCmd is `iotd ota begin|success|fail`: a report of the
// program's to the hub through the daemon, printing the state after it.
func otaReportCmd(api func() *localapi.Client, name, args, short string) *cobra.Command {
	var code int
	var message string
	c := &cobra.Command{
		Use:   name + " " + args,
		Short: short,
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			var version string
			if len(a) == 1 {
				version = a[0]
			}
			if name == "begin" && version == "" {
				return fmt.Errorf("iotd ota begin: name the VERSION being installed")
			}
			cl := api()
			ctx, cancel := contextWithTimeout(cmd, 45*time.Second)
			defer cancel()
			var st localapi.OTAStatus
			var err error
			switch name {
			case "begin":
				st, err = cl.OTABegin(ctx, version)
			case "success":
				st, err = cl.OTASuccess(ctx, version)
			default:
				st, err = cl.OTAFail(ctx, localapi.OTAReport{Version: version, Code: code, Message: message})
			}
			if err != nil {
				return err
			}
			printOTA(cmd.OutOrStdout(), st)
			return nil
		},
	}
	if name == "fail" {
		c.Flags().IntVar(&code, "code", 0, "the negative result code reported (default -5, install failed)")
		c.Flags().StringVar(&message, "message", "", "why it failed, shown in the console")
	}
	return c
}

func busy(state string) bool { return state == localapi.OTADownloading || state == localapi.OTABurning }

func printOTA(w io.Writer, st localapi.OTAStatus) {
	if st.Disabled {
		fmt.Fprintln(w, "OTA is disabled (features.ota.disabled)")
		return
	}
	fmt.Fprintf(w, "version:  %s\nstate:    %s\n", st.Version, st.State)
	if st.TargetVersion != "" {
		fmt.Fprintf(w, "target:   %s\n", st.TargetVersion)
	}
	if st.Size > 0 {
		fmt.Fprintf(w, "progress: %d%% (%s of %s)\n", st.Percent, mib(st.Bytes), mib(st.Size))
	}
	if st.LastError != "" {
		fmt.Fprintf(w, "error:    %d %s\n", st.ResultCode, st.LastError)
	}
}

// followOTA polls the daemon until the update ends: the one in progress,
// or with target the one to that version. With no update yet (idle), or
// target not yet the update's, it waits for one. On a terminal it redraws
// one progress line; otherwise it prints a line whenever the text changes.
func followOTA(ctx context.Context, cl *localapi.Client, w io.Writer, st localapi.OTAStatus, tty, asJSON bool, target string) error {
	var last string
	lastBytes, lastAt := st.Bytes, time.Now()
	var rate float64
	drawn := false
	t := time.NewTicker(otaPoll)
	defer t.Stop()
	for {
		if st.State != localapi.OTAIdle && (target == "" || st.TargetVersion == target) {
			if now := time.Now(); now.Sub(lastAt) >= time.Second {
				rate = float64(st.Bytes-lastBytes) / now.Sub(lastAt).Seconds()
				lastBytes, lastAt = st.Bytes, now
			}
			line := progressLine(st, rate, tty)
			switch {
			case asJSON:
				if key := fmt.Sprintf("%s %d", st.State, st.Percent); key != last {
					last = key
					_ = json.NewEncoder(w).Encode(st)
				}
			case tty:
				fmt.Fprintf(w, "\r%-79s", line)
				drawn = true
			case line != last:
				last = line
				fmt.Fprintln(w, line)
			}
			if !busy(st.State) {
				if drawn {
					fmt.Fprintln(w)
				}
				if st.State == localapi.OTAFailed {
					return fmt.Errorf("update to %s failed (%d): %s", st.TargetVersion, st.ResultCode, st.LastError)
				}
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if drawn {
				fmt.Fprintln(w)
			}
			return nil
		case <-t.C:
		}
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		next, err := cl.OTA(qctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		st = next
	}
}

// progressLine renders the state; on a terminal with a bar.
func progressLine(st localapi.OTAStatus, rate float64, tty bool) string {
	switch st.State {
	case localapi.OTADownloading:
		s := fmt.Sprintf("%s %3d%%  %s / %s", st.TargetVersion, st.Percent, mib(st.Bytes), mib(st.Size))
		if tty {
			const width = 30
			n := st.Percent * width / 100
			s = fmt.Sprintf("%s [%s%s] %3d%%  %s / %s", st.TargetVersion, strings.Repeat("#", n), strings.Repeat(".", width-n),
				st.Percent, mib(st.Bytes), mib(st.Size))
			if rate > 0 {
				s += fmt.Sprintf("  %s/s", mib(int64(rate)))
			}
		}
		return s
	case localapi.OTABurning:
		return st.TargetVersion + " downloaded and verified; installing"
	case localapi.OTARebootPending:
		return st.TargetVersion + " installed; waiting for the reboot that runs it (iotd ota success confirms it)"
	case localapi.OTADone:
		return st.TargetVersion + " installed; version is now " + st.Version
	case localapi.OTAFailed:
		return fmt.Sprintf("%s failed (%d): %s", st.TargetVersion, st.ResultCode, st.LastError)
	}
	return st.State
}

// mib formats a byte count for the progress line: MiB, or KiB below one
// MiB (a modem's 48 KB image would otherwise read "0.0 MiB").
func mib(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
