package atsim_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/drivers/at/atsim"
	"github.com/iotd/iotd/hubsim"
)

// TestTencentRefusedPublishReconnects: the hub closes the connection of a
// device that publishes outside its ACL. A QoS 1 publish then gets no
// PUBACK and fails with 202 after <cmdtimeout>, while the client reports
// the loss and reconnects by itself, and the subscriptions come back.
func TestTencentRefusedPublishReconnects(t *testing.T) {
	hub := startTCHub(t)
	_, h := tcUp(t, hub, atsim.Config{})
	// <cmdtimeout> 2 s: the window in which the module is busy
	hub.connect(h, "2000,240,1,1")
	control := hub.topic("control")
	h.do(fmt.Sprintf(`AT+TCMQTTSUB="%s",0`, control), "OK", "+TCMQTTSUB:OK")

	h.do(`AT+TCMQTTPUB="OTHERPROD1/dev9/data",1,"x"`, "OK")
	h.send("AT") // the publish waits for its PUBACK
	h.collect("busy p...", "+TCMQTTDISCON,-103", "+TCMQTTRECONNECTING", "+TCMQTTPUB:FAIL,202", "+TCMQTTRECONNECTED")
	st := hub.status()
	require.NotNil(t, st.LastPublishRefusal)
	assert.Equal(t, hubsim.PublishUnauthorized, st.LastPublishRefusal.Code)

	require.Eventually(t, func() bool { return len(hub.status().Subscriptions) == 1 }, guard, 10*time.Millisecond)
	require.NoError(t, hub.Publish(control, []byte("back"), 0))
	_, p := h.rcvpub()
	assert.Equal(t, "back", string(p))
	h.do("AT+TCMQTTSTATE?", "+TCMQTTSTATE:1", "OK")
}

// TestTencentNoReconnect: without auto-reconnect a lost connection ends
// the task (+TCMQTTDISCON,-103 twice, from the event and from the yield),
// and the host connects again itself.
func TestTencentNoReconnect(t *testing.T) {
	hub := startTCHub(t)
	_, h := tcUp(t, hub, atsim.Config{})
	hub.connect(h, "1000,240,1,0")
	// QoS 0: written, so OK; then the hub closes the connection
	h.do(`AT+TCMQTTPUB="OTHERPROD1/dev9/data",0,"x"`, "OK", "+TCMQTTPUB:OK", "+TCMQTTDISCON,-103", "+TCMQTTDISCON,-103")
	h.do("AT+TCMQTTSTATE?", "+TCMQTTSTATE:0", "OK")
	h.do(`AT+TCMQTTPUB="x",0,"x"`, "+CME ERROR:208")
	h.do("AT+TCMQTTCONN=1,5000,240,1,0", "OK", "+TCMQTTCONN:OK")
}

// TestTencentReboot: a reboot drops the connection without DISCONNECT;
// the device info is in flash and Wi-Fi rejoins, MQTT does not.
func TestTencentReboot(t *testing.T) {
	hub := startTCHub(t)
	m, h := tcUp(t, hub, atsim.Config{})
	hub.connect(h, "5000,240,1,1")
	m.Reboot()
	h.until("ready")
	h.expect("WIFI CONNECTED", "WIFI GOT IP")
	require.Eventually(t, func() bool { return !hub.status().Connected }, guard, 10*time.Millisecond)
	h.send("ATE0")
	h.until("OK")
	h.do("AT+TCMQTTSTATE?", "+TCMQTTSTATE:0", "OK")
	h.send("AT+TCDEVINFOSET?")
	assert.True(t, strings.HasPrefix(h.line(), `+TCDEVINFOSET:1,"TCPROD0001","dev1",`))
	h.expect("OK")
	h.do("AT+TCMQTTCONN=1,5000,240,1,1", "OK", "+TCMQTTCONN:OK")

	// AT+TCRESTORE wants MQTT down, then forgets the device and reboots
	h.do("AT+TCRESTORE", "+CME ERROR:208")
	h.do("AT+TCMQTTDISCONN", "+TCMQTTDISCON,2", "OK")
	h.do("AT+TCRESTORE", "OK", "ready")
	h.send("ATE0")
	h.until("OK")
	h.do("AT+TCDEVINFOSET?", "+CME ERROR:207")
}

// TestTencentWiFiLoss: with Wi-Fi gone the client loses its connection
// and cannot reconnect; once the host rejoins (the firmware does not by
// itself), it does.
func TestTencentWiFiLoss(t *testing.T) {
	hub := startTCHub(t)
	m, h := tcUp(t, hub, atsim.Config{})
	hub.connect(h, "2000,240,1,1")
	require.NoError(t, m.Inject(atsim.Fault{Kind: atsim.BearerLoss}))
	h.expect("WIFI DISCONNECT")
	h.collect("+TCMQTTDISCON,-103", "+TCMQTTRECONNECTING")
	h.send(`AT+CWJAP="lab","secret"`)
	h.until("OK")
	h.until("+TCMQTTRECONNECTED")
	require.Eventually(t, func() bool { return hub.status().Connected }, guard, 10*time.Millisecond)
}

// TestTencentCloseLeavesNoGoroutines: closing a modem with a live MQTT
// connection stops the client and its paho goroutines.
func TestTencentCloseLeavesNoGoroutines(t *testing.T) {
	hub := startTCHub(t)
	m, h := tcUp(t, hub, atsim.Config{})
	hub.connect(h, "5000,240,1,1")
	require.NoError(t, m.Close())
	require.Eventually(t, func() bool { return !hub.status().Connected }, guard, 10*time.Millisecond)
	var stacks string
	gone := func() bool {
		buf := make([]byte, 1<<20)
		stacks = string(buf[:runtime.Stack(buf, true)])
		return !strings.Contains(stacks, "atsim.(*tcSession)") && !strings.Contains(stacks, "paho.mqtt.golang")
	}
	if !assert.Eventually(t, gone, 2*time.Second, 10*time.Millisecond) {
		t.Log(stacks)
	}
}
