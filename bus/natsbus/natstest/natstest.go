// Package natstest runs nats-server inside a test process: one JetStream
// server, or a JetStream cluster on loopback whose nodes a test can stop.
// Only tests import it, so the server is never linked into iotd.
package natstest

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// readyTimeout bounds a server's start.
const readyTimeout = 20 * time.Second

// Run starts a JetStream server on a free loopback port, storing under a
// temporary directory, and stops it at the end of the test. It returns
// the server; its ClientURL is the URL to connect to.
func Run(t testing.TB) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{
		ServerName: "iotd-test",
		Host:       "127.0.0.1",
		Port:       -1,
		JetStream:  true,
		StoreDir:   t.TempDir(),
		NoLog:      true,
		NoSigs:     true,
	})
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	start(t, s)
	return s
}

func start(t testing.TB, s *server.Server) {
	t.Helper()
	s.Start()
	if !s.ReadyForConnections(readyTimeout) {
		s.Shutdown()
		t.Fatalf("natstest: server %s did not start", s.Name())
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
}

// Cluster is a JetStream cluster of servers on loopback.
type Cluster struct {
	Servers []*server.Server
}

// RunCluster starts an n-node JetStream cluster on loopback and waits
// until it has a meta leader. The servers stop at the end of the test.
func RunCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	ports := freePorts(t, 2*n)
	var routes []string
	for i := range n {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[n+i]))
	}
	c := &Cluster{}
	for i := range n {
		s, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("n%d", i+1),
			Host:       "127.0.0.1",
			Port:       ports[i],
			JetStream:  true,
			StoreDir:   t.TempDir(),
			NoLog:      true,
			NoSigs:     true,
			Cluster:    server.ClusterOpts{Name: "iotd-test", Host: "127.0.0.1", Port: ports[n+i]},
			Routes:     server.RoutesFromStr(strings.Join(routes, ",")),
		})
		if err != nil {
			t.Fatalf("natstest: %v", err)
		}
		start(t, s)
		c.Servers = append(c.Servers, s)
	}
	deadline := time.Now().Add(readyTimeout)
	for !c.hasMetaLeader() {
		if time.Now().After(deadline) {
			t.Fatal("natstest: the cluster elected no meta leader")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return c
}

func (c *Cluster) hasMetaLeader() bool {
	for _, s := range c.Servers {
		if s.Running() && s.JetStreamIsLeader() {
			return true
		}
	}
	return false
}

// URL returns the client URLs of every server, comma-separated.
func (c *Cluster) URL() string {
	var urls []string
	for _, s := range c.Servers {
		urls = append(urls, s.ClientURL())
	}
	return strings.Join(urls, ",")
}

func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("natstest: %v", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}
