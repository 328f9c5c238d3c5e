package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"

	"github.com/spf13/cobra"

	"github.com/iotd/iotd/drivers/at/atsim"
)

// options are the command-line flags.
type options struct {
	dialect  string
	baud     int
	throttle bool
	faults   []string
	seed     int64
	noSIM    bool
	pin      string
	signal   int
	reg      string
	hosts    []string
	wifi     []string
	link     string
	level    string
	tencent  tencentFlags
}

const longHelp = `atsim serves a simulated AT modem on a pseudo-terminal. Point an AT driver
(or picocom, tio, minicom) at the printed /dev/pts/N path, or at --link.

Dialects: quectel (BG96), esp (ESP-AT v2), simcom (SIM7600), ublox (SARA-R4/R5),
tencent (ESP8266 with Tencent's TC firmware: its own MQTT client to the hub;
--tencent-broker and --tencent-ca point it at hubsim instead).
Every socket the driver opens through the modem is a real TCP or UDP
connection made by atsim to the host and port asked for.

Faults (--fault, comma-separated or repeated):
  fragment          cut output into 1..8-byte pieces with short pauses
  urc[=LINE]        put a URC line between response lines and before prompts
  garbage           send a line of random bytes after every final result
  lostprompt        lose the next send command's prompt (and the command)
  stall[=2s]        stop answering for a while, right at start
  reboot            reboot right at start (banner printed twice)
  halftyped[=TEXT]  start with TEXT (AT+CS; no commas) in the command buffer,
                    as a host that died while typing a command leaves it
  nonaterror        answer ERROR to a line with no AT command, such as ESC
                    and CR (esp always does; V.250 modules ignore it)
  rebootmid[=CMD]   reboot on reading the next command line that starts with
                    CMD (any line when none), before answering it
  stalesockets[=N]  hold socket ids 0..N-1 (N=1) as a host that crashed
                    mid-session leaves them, data context up
Randomness comes from --seed, so a run can be replayed.

At run time: kill -USR1 <pid> reboots the modem (sockets dropped, banner);
kill -USR2 <pid> drops the data bearer (PDP context or Wi-Fi) with the
module's URCs.

--throttle paces the line at 115200 baud (8N1: 11520 bytes/s each way);
--baud sets another rate. Without either the pty runs at full speed.`

func newRootCmd() *cobra.Command {
	o := &options{}
	c := &cobra.Command{
		Use:           "atsim --dialect quectel|esp|simcom|ublox|tencent [flags]",
		Short:         "Virtual AT modem on a pseudo-terminal",
		Long:          longHelp,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd, o)
		},
	}
	f := c.Flags()
	f.StringVar(&o.dialect, "dialect", "", "module personality: quectel, esp, simcom, ublox or tencent (required)")
	f.IntVar(&o.baud, "baud", 0, "pace the line at this baud rate (bytes/s = baud/10); 0 is unthrottled")
	f.BoolVar(&o.throttle, "throttle", false, "pace the line at 115200 baud")
	f.StringSliceVar(&o.faults, "fault", nil, "faults to inject: fragment, urc[=LINE], garbage, lostprompt, stall[=DURATION], reboot, halftyped[=TEXT], nonaterror, rebootmid[=CMD], stalesockets[=N]")
	f.Int64Var(&o.seed, "seed", 1, "seed of all randomness (fragment sizes, garbage)")
	f.BoolVar(&o.noSIM, "no-sim", false, "no SIM card inserted (+CME ERROR: 10)")
	f.StringVar(&o.pin, "pin", "", "the SIM wants this PIN (AT+CPIN=\"PIN\") before it is ready")
	f.IntVar(&o.signal, "signal", 20, "signal quality, the +CSQ rssi: 0..31, or 99 for unknown")
	f.StringVar(&o.reg, "reg", "home", "network registration: home, roaming, searching, denied or none")
	f.StringSliceVar(&o.hosts, "host", nil, "DNS answer NAME=IP (repeatable); other names use the system resolver")
	f.StringSliceVar(&o.wifi, "wifi", nil, "esp: a Wi-Fi network SSID[:PASSWORD] in range (repeatable); none means any joins")
	f.StringVar(&o.link, "link", "", "also create a symlink at PATH to the pty, removed on exit")
	f.StringVar(&o.level, "log-level", "warn", "log level on stderr: debug, info, warn, error")
	o.tencent.register(f)
	return c
}

// config turns the flags into an atsim.Config.
func (o *options) config(log *slog.Logger) (atsim.Config, error) {
	if o.dialect == "" {
		return atsim.Config{}, fmt.Errorf("--dialect is required: one of %s", strings.Join(atsim.Dialects(), ", "))
	}
	cfg := atsim.Config{Dialect: o.dialect, Baud: o.baud, Seed: o.seed, Signal: o.signal, Logger: log}
	if o.throttle && o.baud == 0 {
		cfg.Baud = 115200
	}
	if o.signal == 0 {
		cfg.Signal = 0 // set after start: 0 in Config means the default
	}
	switch {
	case o.noSIM && o.pin != "":
		return cfg, errors.New("--no-sim and --pin exclude each other")
	case o.noSIM:
		cfg.SIM = atsim.SIMAbsent
	case o.pin != "":
		cfg.SIM, cfg.PIN = atsim.SIMPIN, o.pin
	}
	regs := map[string]atsim.RegState{"home": atsim.RegHome, "roaming": atsim.RegRoaming,
		"searching": atsim.RegSearching, "denied": atsim.RegDenied, "none": atsim.RegNone}
	r, found := regs[o.reg]
	if !found {
		return cfg, fmt.Errorf("--reg %q: use home, roaming, searching, denied or none", o.reg)
	}
	cfg.Reg = r
	for _, s := range o.faults {
		f, err := atsim.ParseFault(s)
		if err != nil {
			return cfg, fmt.Errorf("--fault: %w", err)
		}
		cfg.Faults = append(cfg.Faults, f)
	}
	for _, h := range o.hosts {
		name, ip, ok := strings.Cut(h, "=")
		if !ok || name == "" || ip == "" {
			return cfg, fmt.Errorf("--host %q: want NAME=IP, e.g. broker.example=127.0.0.1", h)
		}
		if cfg.Hosts == nil {
			cfg.Hosts = map[string]string{}
		}
		cfg.Hosts[name] = ip
	}
	for _, w := range o.wifi {
		ssid, pwd, _ := strings.Cut(w, ":")
		if ssid == "" {
			return cfg, fmt.Errorf("--wifi %q: want SSID or SSID:PASSWORD", w)
		}
		cfg.WiFi = append(cfg.WiFi, atsim.AP{SSID: ssid, Password: pwd})
	}
	if err := o.tencent.fill(&cfg); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

func serve(cmd *cobra.Command, o *options) error {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(o.level)); err != nil {
		return fmt.Errorf("--log-level %q: use debug, info, warn or error", o.level)
	}
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: lv}))
	cfg, err := o.config(log)
	if err != nil {
		return err
	}
	m, err := atsim.Start(cmd.Context(), cfg)
	if err != nil {
		return err
	}
	defer m.Close()
	if o.signal == 0 {
		m.SetSignal(0)
	}
	if o.link != "" {
		if err := makeLink(m.Path(), o.link); err != nil {
			return err
		}
		defer removeLink(o.link, m.Path())
	}
	sig := make(chan os.Signal, 1)
	if len(faultSignals) > 0 { // none on Windows; Notify with none takes all
		signal.Notify(sig, faultSignals...)
		defer signal.Stop(sig)
	}
	announce(cmd.OutOrStdout(), m, o.link)
	for {
		select {
		case <-cmd.Context().Done():
			return nil
		case s := <-sig:
			f := atsim.Fault{Kind: faultFor(s)}
			log.Info("atsim: injecting fault", "fault", f.Kind)
			if err := m.Inject(f); err != nil {
				return err
			}
		}
	}
}

// announce prints the line scripts read: "atsim: quectel modem on /dev/pts/7".
func announce(w io.Writer, m *atsim.Modem, link string) {
	if link != "" {
		fmt.Fprintf(w, "atsim: %s modem on %s (link %s)\n", m.Dialect(), m.Path(), link)
		return
	}
	fmt.Fprintf(w, "atsim: %s modem on %s\n", m.Dialect(), m.Path())
}

// makeLink points link at path, replacing an old symlink but never a
// regular file.
func makeLink(path, link string) error {
	if fi, err := os.Lstat(link); err == nil {
		if fi.Mode()&os.ModeSymlink == 0 {
			return fmt.Errorf("--link %s: exists and is not a symlink; remove it or choose another path", link)
		}
		if err := os.Remove(link); err != nil {
			return fmt.Errorf("--link %s: %w", link, err)
		}
	}
	if err := os.Symlink(path, link); err != nil {
		return fmt.Errorf("--link %s: %w", link, err)
	}
	return nil
}

// removeLink removes link if it still points at path.
func removeLink(link, path string) {
	if dst, err := os.Readlink(link); err == nil && dst == path {
		os.Remove(link)
	}
}
