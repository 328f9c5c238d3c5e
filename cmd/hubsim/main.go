// Command hubsim runs the local Tencent Cloud IoT Hub emulator and manages
// its products and devices.
//
//	hubsim serve [--state DIR] [--tls ADDR] [--tcp ADDR] [--ws ADDR] [--wss ADDR] [--admin ADDR] [--coap ADDR] [--coap-plain ADDR] [--coap-separate]
//	             [--max-payload BYTES] [--publish-rate N] [--publish-burst N]
//	hubsim device create PRODUCT DEVICE [--cert] --out device_info.json
//	hubsim device list [--product P] | device show PRODUCT/DEVICE
//	hubsim product create PRODUCT | product list
//	hubsim pub PRODUCT/DEVICE TOPIC MSG [--qos 0|1]
//	hubsim messages PRODUCT/DEVICE
//	hubsim shadow get PRODUCT/DEVICE | shadow desire PRODUCT/DEVICE key=value ... [--replace]
//	hubsim rrpc PRODUCT/DEVICE PAYLOAD [--timeout 5s]
//	hubsim broadcast PRODUCT PAYLOAD
//	hubsim ota push PRODUCT/DEVICE FILE --version V | ota status PRODUCT/DEVICE | ota info
//	hubsim gateway list PRODUCT/DEVICE
//	hubsim logs PRODUCT/DEVICE | loglevel PRODUCT/DEVICE N
//	hubsim dynreg PRODUCT [off|precreate|autocreate] [--cert]
//	hubsim coap info | coap mode piggyback|separate | coap expire PRODUCT/DEVICE
//
// Every command except serve talks to a running hubsim through its admin
// API (--admin, default 127.0.0.1:8080). `device create` also works with no
// hubsim running: it then edits the state directory (--state) directly,
// which a running hubsim locks against.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd := newRootCmd()
	cmd.SetOut(os.Stdout)
	cmd.SetErr(os.Stderr)
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "hubsim:", err)
		os.Exit(1)
	}
}
