package posix_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/posix"
)

// Register the POSIX drivers into a registry of one's own, open the "tcp"
// driver with a JSON configuration and dial a stream.
func Example() {
	reg := core.NewRegistry()
	for _, d := range []driver.Driver{posix.NewTCP(), posix.NewTLS(), posix.NewUDP()} {
		if err := reg.Register(d); err != nil {
			panic(err)
		}
	}
	fmt.Println(reg.Names())

	// A peer to talk to.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Write([]byte("hello from the peer"))
		c.Close()
	}()

	d, err := reg.Driver("tcp")
	if err != nil {
		panic(err)
	}
	dialer, err := d.Open([]byte(`{"keepalive": "30s"}`))
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := dialer.Dial(ctx, driver.Stream, ln.Addr().String())
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	msg, err := io.ReadAll(conn) // an orderly close ends with io.EOF, which ReadAll absorbs
	fmt.Printf("%s %v\n", msg, err)

	_, err = d.Open([]byte(`{"keep_alive": "30s"}`))
	fmt.Println(err)
	// Output:
	// [tcp tls udp]
	// hello from the peer <nil>
	// tcp: config: unknown key "keep_alive" (known keys: keepalive)
}
