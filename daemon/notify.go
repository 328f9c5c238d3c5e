package daemon

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/iotd/iotd/bus"
)

// The service manager's side of the daemon (systemd's Type=notify): the
// sd_notify datagram protocol, spoken with the standard library. When
// $NOTIFY_SOCKET is set the daemon sends READY=1 once it serves its API,
// STATUS= lines with the devices' link states, WATCHDOG=1 keep-alives when
// $WATCHDOG_USEC asks for them, and STOPPING=1 when it shuts down. Without
// it nothing is sent.

// notifier sends sd_notify messages to the service manager; a nil
// notifier sends nothing.
type notifier struct {
	addr *net.UnixAddr
	// watchdog is $WATCHDOG_USEC: the manager restarts the service when
	// no WATCHDOG=1 arrives for this long; 0 when not asked.
	watchdog time.Duration
}

// notifierFromEnv is the notifier $NOTIFY_SOCKET names (a path, or an
// abstract socket "@name"), nil without one. The watchdog applies only
// when $WATCHDOG_PID is unset or names this process.
func notifierFromEnv() *notifier {
	sock := os.Getenv("NOTIFY_SOCKET")
	if sock == "" || (sock[0] != '/' && sock[0] != '@') {
		return nil
	}
	// net maps a leading '@' to Linux's abstract namespace.
	n := &notifier{addr: &net.UnixAddr{Name: sock, Net: "unixgram"}}
	usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return n
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return n
	}
	n.watchdog = time.Duration(usec) * time.Microsecond
	return n
}

// send sends one datagram of newline-separated KEY=VALUE lines.
func (n *notifier) send(lines ...string) error {
	if n == nil {
		return nil
	}
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(strings.Join(lines, "\n"))); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	return nil
}

// supervise is the daemon's main loop while it serves: it tells the
// service manager READY, then keeps its STATUS current with the link
// states, sends WATCHDOG keep-alives and re-reads the configuration on
// SIGHUP (see reload), until ctx ends. A keep-alive is sent only after the
// loop has read every device's status, which takes the locks the devices'
// own loops hold: when a device or this loop is stuck, the keep-alives
// stop and the service manager restarts iotd.
func (d *Daemon) supervise(ctx context.Context) {
	n := notifierFromEnv()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	rl := d.newReloader()

	links := make(chan struct{}, 1)
	for _, u := range d.units {
		go u.watchLink(ctx, links)
	}
	status := d.statusLine()
	if err := n.send("READY=1", "STATUS="+status); err != nil {
		d.log.Warn("cannot tell the service manager iotd is ready", "err", err)
	}
	var tick <-chan time.Time
	if n != nil && n.watchdog > 0 {
		// Twice per interval, as sd_watchdog_enabled(3) advises.
		t := time.NewTicker(n.watchdog / 2)
		defer t.Stop()
		tick = t.C
		_ = n.send("WATCHDOG=1")
	}
	for {
		select {
		case <-ctx.Done():
			_ = n.send("STOPPING=1", "STATUS=stopping")
			return
		case <-hup:
			// No RELOADING=1: systemd wants MONOTONIC_USEC with it,
			// which the standard library does not give portably; the
			// reload is short and logs what it did.
			rl.reload()
		case <-links:
		case <-tick:
			// statusLine below reads every device; the keep-alive
			// follows it.
		}
		if s := d.statusLine(); s != status {
			status = s
			_ = n.send("STATUS=" + status)
		}
		if tick != nil {
			_ = n.send("WATCHDOG=1")
		}
	}
}

// watchLink signals links (without blocking) at each of the device's link
// state changes, until ctx ends.
func (u *Unit) watchLink(ctx context.Context, links chan<- struct{}) {
	ch, err := u.dev.Bus().Subscribe(ctx, bus.TopicLinkState)
	if err != nil {
		return
	}
	for m := range ch {
		m.Ack()
		select {
		case links <- struct{}{}:
		default:
		}
	}
}

// statusLine is the service's STATUS: each device's link state, and why
// it is not connected ("link connected to host:8883 (tls)";
// with several devices "meter: connected ...; door: ...").
func (d *Daemon) statusLine() string {
	parts := make([]string, 0, len(d.units))
	for _, u := range d.units {
		l := u.Status().Link
		s := "link " + l.State
		if l.Endpoint != "" {
			s += " to " + l.Endpoint
		}
		if l.Driver != "" {
			s += " (" + l.Driver + ")"
		}
		if l.Err != "" && l.State != "connected" {
			s += ": " + l.Err
		}
		if u.named {
			s = u.name + ": " + s
		}
		parts = append(parts, s)
	}
	// One line: the manager shows STATUS as a single line.
	return strings.ReplaceAll(strings.Join(parts, "; "), "\n", " ")
}
