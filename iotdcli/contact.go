package iotdcli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/iotd/iotd/core/hub"
	"github.com/iotd/iotd/device"
)

// printContact prints what `iotd run --check` resolved: the region, the
// endpoints iotd would use, what verifies the server, the service URLs
// and which features will run.
func printContact(w io.Writer, c device.Contact) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	region := c.Region
	if !c.RegionConfirmed {
		region += " (registration and log endpoints from the newer SDK's tables; see README)"
	}
	fmt.Fprintf(tw, "region\t%s\n", region)
	via := c.Driver
	if c.Carrier != "" {
		via = c.Carrier
	}
	fmt.Fprintf(tw, "endpoint\t%s (%s over %s; from %s)\n", c.Endpoint, c.Channel, via, c.EndpointFrom)
	fmt.Fprintf(tw, "trust\t%s\n", c.Trust.From)
	for _, cert := range c.Trust.Certs {
		name := cert.Subject.String()
		if ca, ok := hub.Find(cert); ok {
			name += " [" + ca.File + "]"
		}
		fmt.Fprintf(tw, "\t- %s, valid until %s\n", name, cert.NotAfter.UTC().Format(time.DateOnly))
	}
	fmt.Fprintf(tw, "registration\t%s\n", c.RegistrationURL)
	if c.LogUpload {
		fmt.Fprintf(tw, "log upload\t%s\n", c.LogUploadURL)
	}
	fmt.Fprintf(tw, "features\t%s\n", featuresText(c))
	tw.Flush()
}

// featuresText is the features line: those that will run, then those that
// will not, each with why.
func featuresText(c device.Contact) string {
	on := "none"
	if len(c.Features) > 0 {
		on = strings.Join(c.Features, ", ")
	}
	if len(c.FeaturesOff) == 0 {
		return on
	}
	off := make([]string, len(c.FeaturesOff))
	for i, f := range c.FeaturesOff {
		off[i] = f.Name + " (" + f.Why + ")"
	}
	return on + "; off: " + strings.Join(off, ", ")
}
