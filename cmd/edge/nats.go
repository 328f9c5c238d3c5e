package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// runNATS serves a JetStream nats-server until ctx ends.
func runNATS(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("edge nats", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:4222", "client listen address, host:port (port 0: a free one)")
	store := fs.String("store", "", "JetStream store directory (file storage; default: a temporary directory removed at exit)")
	verbose := fs.Bool("v", false, "log the server's notices on stderr")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	host, p, err := net.SplitHostPort(*addr)
	if err != nil {
		return fmt.Errorf("-addr %q: %w", *addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return fmt.Errorf("-addr %q: the port is a number 0..65535", *addr)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	dir := *store
	if dir == "" {
		if dir, err = os.MkdirTemp("", "edge-nats-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	s, err := startServer(host, port, dir, *verbose)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, s.ClientURL())
	<-ctx.Done()
	s.Shutdown()
	s.WaitForShutdown()
	return nil
}

// startServer starts a JetStream server storing under dir and waits until
// it takes connections.
func startServer(host string, port int, dir string, verbose bool) (*server.Server, error) {
	s, err := server.NewServer(&server.Options{
		ServerName: "edge",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   dir,
		NoLog:      !verbose,
		NoSigs:     true,
	})
	if err != nil {
		return nil, fmt.Errorf("nats-server: %w", err)
	}
	if verbose {
		s.ConfigureLogger()
	}
	s.Start()
	if !s.ReadyForConnections(20 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("nats-server on %s did not start (the port in use? -v says why)", net.JoinHostPort(host, strconv.Itoa(port)))
	}
	return s, nil
}
