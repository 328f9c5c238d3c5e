package dtls_test

import (
	"context"
	"fmt"
	"time"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/posix/dtls"
)

// Register the DTLS driver into a registry of one's own and open it in PSK
// mode with a device's identity, as device_info.json holds it.
func Example() {
	reg := core.NewRegistry()
	if err := reg.Register(dtls.New()); err != nil {
		panic(err)
	}
	d, err := reg.Driver("dtls")
	if err != nil {
		panic(err)
	}
	dialer, err := d.Open([]byte(`{
		"psk_identity": "S3EUVBRJLBtest_device",
		"psk": "ABEiM0RVZneImaq7zN3u/w==",
		"handshake_timeout": "8s"
	}`))
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The hub's CoAP endpoint is {productId}.iotcloud.tencentdevices.com:5684;
	// this example dials a name that cannot resolve.
	_, err = dialer.Dial(ctx, driver.Datagram, "hub.invalid:5684")
	fmt.Println(core.ClassOf(err))
	// Output:
	// unavailable
}
