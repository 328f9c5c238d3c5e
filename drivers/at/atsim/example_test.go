package atsim_test

import (
	"context"
	"fmt"
	"time"

	"github.com/iotd/iotd/drivers/at"
	"github.com/iotd/iotd/drivers/at/atsim"
	"github.com/iotd/iotd/drivers/serial"
)

// A driver opens the simulator's pty like any serial port.
func ExampleStart() {
	ctx := context.Background()
	m, err := atsim.Start(ctx, atsim.Config{Dialect: atsim.DialectQuectel, Signal: 23})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	port, err := serial.Open(serial.Config{Name: m.Path()})
	if err != nil {
		fmt.Println(err)
		return
	}
	e := at.New(port, at.Options{})
	defer e.Close()

	// Wait for the end of the boot banner, so that it does not mix with
	// the first answer.
	booted := make(chan struct{}, 1)
	_ = e.HandleURC(at.URC{Prefix: "APP RDY", Line: func(string) int { booted <- struct{}{}; return 0 }})
	select {
	case <-booted:
	case <-time.After(10 * time.Second):
	}
	for _, c := range []string{"ATE0", "ATI", "AT+CSQ"} {
		r, err := e.Do(ctx, at.Command{Text: c})
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, l := range r.Lines {
			fmt.Println(l)
		}
	}
	// Output:
	// Quectel
	// BG96
	// Revision: BG96MAR02A07M1G
	// +CSQ: 23,99
}
