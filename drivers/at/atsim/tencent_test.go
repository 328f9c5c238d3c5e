package atsim_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/drivers/at/atsim"
	"github.com/iotd/iotd/hubsim"
)

// TestTencentCommands checks the answers that need no broker: the
// ESP-AT basics, the TC commands' forms, their parameter checks and their
// state checks.
func TestTencentCommands(t *testing.T) {
	_, h := tcUp(t, nil, atsim.Config{})
	tests := []struct {
		name, cmd string
		want      []string
	}{
		{"AT", "AT", []string{"OK"}},
		{"GMR", "AT+GMR", []string{"AT version:2.4.0.0(s-4c6eb65 - ESP32 - May 20 2022 03:12:58)",
			"SDK version:qa-test-v4.3.3-20220423", "compile time(5641e0ad):May 20 2022 11:13:41", "Bin version:2.4.0(WROOM-32)", "OK"}},
		{"no CSQ on ESP-AT", "AT+CSQ", []string{"ERROR"}},
		{"no ATI on ESP-AT", "ATI", []string{"ERROR"}},
		{"module", "AT+TCMODULE", []string{"Module HW name: ESP-WROOM-02D", "Module FW version: QCloud_AT_ESP8266_v2.0.0",
			"Module Mac addr: 24:0a:c4:00:00:01", "Module FW compiled time: Jun 17 2020 16:25:27", "Module Flash size: 2MB", "OK"}},
		{"version", "AT+TCVER", []string{"Tencent Cloud IoT AT  version: QCloud_AT_ESP8266_v2.0.0",
			"Tencent Cloud IoT SDK version: 3.2.0", "Firmware compile time: Jun 17 2020 16:25:27", "Tencent Technology Co. Ltd.", "OK"}},
		{"no device info yet", "AT+TCDEVINFOSET?", []string{"+CME ERROR:207"}},
		{"devinfo test", "AT+TCDEVINFOSET=?", []string{`+TCDEVINFOSET:"TLS_MODE(1)","PRODUCT_ID","DEVICE_NAME","DEVICE_SECRET_BCC","PRODUCT_REGION"`, "OK"}},
		{"devinfo: ESP8266 takes TLS mode 1 only", `AT+TCDEVINFOSET=0,"P","d","c2VjcmV0"`, []string{"+CME ERROR:204"}},
		{"devinfo: a quoted mode is no number", `AT+TCDEVINFOSET="1","P","d","c2VjcmV0"`, []string{"ERROR"}},
		{"devinfo: product id over 10", `AT+TCDEVINFOSET=1,"PRODUCT0001","d","c2VjcmV0"`, []string{"+CME ERROR:204"}},
		{"devinfo: unquoted name", `AT+TCDEVINFOSET=1,"P",d,"c2VjcmV0"`, []string{"+CME ERROR:204"}},
		{"devinfo: secret over 44", `AT+TCDEVINFOSET=1,"P","d","` + strings.Repeat("A", 48) + `"`, []string{"+CME ERROR:204"}},
		{"devinfo: region over 24", `AT+TCDEVINFOSET=1,"P","d","c2VjcmV0","` + strings.Repeat("r", 25) + `"`, []string{"+CME ERROR:204"}},
		{"conn test", "AT+TCMQTTCONN=?", []string{"+TCMQTTCONN:<TLSMODE_SELECTED>,<CMDTIMEOUT_VALUE(500-20000ms)>,<KEEPALIVE>(60-690s),<CLEAN_SESSION>(0/1),<RECONNECT>(0/1)", "OK"}},
		{"conn defaults", "AT+TCMQTTCONN?", []string{"+TCMQTTCONN:1,5000,240,1,1", "OK"}},
		{"conn: keepalive under 60", "AT+TCMQTTCONN=1,5000,30,1,1", []string{"+CME ERROR:204"}},
		{"conn: timeout over 20000", "AT+TCMQTTCONN=1,20001,240,1,1", []string{"+CME ERROR:204"}},
		{"conn: four parameters", "AT+TCMQTTCONN=1,5000,240,1", []string{"+CME ERROR:204"}},
		{"conn without device info", "AT+TCMQTTCONN=1,5000,240,1,1", []string{"OK", "+TCMQTTCONN:FAIL,207"}},
		{"state", "AT+TCMQTTSTATE?", []string{"+TCMQTTSTATE:0", "OK"}},
		{"no state set form", "AT+TCMQTTSTATE=1", []string{"ERROR"}},
		{"disconnect when not connected", "AT+TCMQTTDISCONN", []string{"+CME ERROR:208"}},
		{"publish when not connected", `AT+TCMQTTPUB="P/d/data",0,"x"`, []string{"+CME ERROR:208"}},
		{"publ when not connected", `AT+TCMQTTPUBL="P/d/data",0,5`, []string{"+CME ERROR:208"}},
		{"subscribe when not connected", `AT+TCMQTTSUB="P/d/control",0`, []string{"+CME ERROR:208"}},
		{"pub test", "AT+TCMQTTPUB=?", []string{`+TCMQTTPUB: "TOPIC_NAME(maxlen 128)", "QOS(0/1)","PAYLOAD"`, "OK"}},
		{"publ test", "AT+TCMQTTPUBL=?", []string{`+TCMQTTPUBL: "TOPIC_NAME(maxlen 128)", "QOS(0/1)","LEN(1-2048)"`, "OK"}},
		{"sub list, none", "AT+TCMQTTSUB?", []string{"OK"}},
		{"server unset", "AT+TCMQTTSRV?", []string{"+TCMQTTSRV:NULL", "OK"}},
		{"server set", `AT+TCMQTTSRV="broker.lab"`, []string{"OK", "+TCMQTTSRV:OK"}},
		{"server shown", "AT+TCMQTTSRV?", []string{"+TCMQTTSRV:broker.lab", "OK"}},
		{"OTA off", "AT+TCOTASET?", []string{`+TCOTASET:0,""`, "OK"}},
		{"OTA needs MQTT", `AT+TCOTASET=1,"1.0.0"`, []string{"+CME ERROR:208"}},
		{"OTA version over 32", `AT+TCOTASET=1,"` + strings.Repeat("1", 33) + `"`, []string{"+CME ERROR:204"}},
		{"no firmware in flash", "AT+TCFWINFO?", []string{"+CME ERROR:207"}},
		{"nothing to read", "AT+TCREADFWDATA=512", []string{"+CME ERROR:207"}},
		{"line over 256 bytes", `AT+TCMQTTPUB="P/d/data",0,"` + strings.Repeat("x", 240) + `"`, []string{"ERROR"}},
		{"devinfo set", `AT+TCDEVINFOSET=1,"P","d","c2VjcmV0"`, []string{"OK", "+TCDEVINFOSET:OK"}},
		// the bytes of "c2VjcmV0" XORed together are 5
		{"devinfo shows the secret's BCC", "AT+TCDEVINFOSET?", []string{`+TCDEVINFOSET:1,"P","d",5,"ap-guangzhou"`, "OK"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.t = t
			h.do(tt.cmd, tt.want...)
		})
	}
}

// TestTencentMQTT runs the module's MQTT client against hubsim: connect,
// subscribe, messages both ways (short, long, escaped, binary), the
// module's limits, a refused subscription, unsubscribe, disconnect.
func TestTencentMQTT(t *testing.T) {
	hub := startTCHub(t)
	_, h := tcUp(t, hub, atsim.Config{})
	hub.connect(h, "5000,240,1,1")
	h.do("AT+TCMQTTSTATE?", "+TCMQTTSTATE:1", "OK")
	h.do("AT+TCMQTTCONN?", "+TCMQTTCONN:1,5000,240,1,1", "OK")
	h.do(`AT+TCDEVINFOSET=1,"P","d","c2VjcmV0"`, "+CME ERROR:208")
	h.do("AT+TCMQTTCONN=1,5000,240,1,1", "+CME ERROR:208")

	// not the data topic: a message to it would come back in a URC that
	// may come before or after the publish's result, as on the module
	control, data := hub.topic("control"), hub.topic("data")
	sys := "$sys/operation/result/" + hub.info.ProductID + "/" + hub.info.DeviceName
	h.do(fmt.Sprintf(`AT+TCMQTTSUB="%s",1`, control), "OK", "+TCMQTTSUB:OK")
	h.do(fmt.Sprintf(`AT+TCMQTTSUB="%s",0`, sys), "OK", "+TCMQTTSUB:OK")
	h.do("AT+TCMQTTSUB?", fmt.Sprintf(`+TCMQTTSUB:"%s",1`, control), fmt.Sprintf(`+TCMQTTSUB:"%s",0`, sys), "OK")

	t.Run("hub to module", func(t *testing.T) {
		h.t = t
		// quotes, commas, a line end and "OK": the URC does not escape
		// them, its length delimits the payload
		for _, p := range [][]byte{[]byte(`{"action":"on","n":1}`), []byte("a\r\nOK\r\n\"x\",y"), bytes.Repeat([]byte("L"), 1800)} {
			require.NoError(t, hub.Publish(control, p, 1))
			topic, got := h.rcvpub()
			assert.Equal(t, control, topic)
			assert.Equal(t, p, got)
		}
	})
	t.Run("publish", func(t *testing.T) {
		h.t = t
		// ESP-AT takes \" and \, inside a quoted parameter
		h.do(fmt.Sprintf(`AT+TCMQTTPUB="%s",1,"{\"t\":21.5\,\"ok\":true}"`, data), "OK", "+TCMQTTPUB:OK")
		hub.sent(t, `{"t":21.5,"ok":true}`)
	})
	t.Run("long publish", func(t *testing.T) {
		h.t = t
		body := []byte(strings.Repeat("0123456789", 150) + "\r\nOK\r\n")
		h.send(fmt.Sprintf(`AT+TCMQTTPUBL="%s",0,%d`, data, len(body)))
		h.expect("OK", ">")
		h.raw(append(body, "\r\n"...))
		h.expect("+TCMQTTPUBL:OK")
		hub.sent(t, string(body))
	})
	t.Run("long publish undoes escapes the firmware's way", func(t *testing.T) {
		h.t = t
		body := `{\"a\":1\,\"b\":2}`
		h.send(fmt.Sprintf(`AT+TCMQTTPUBL="%s",1,%d`, data, len(body)))
		h.expect("OK", ">")
		h.do(body, "+TCMQTTPUBL:OK")
		hub.sent(t, `{ "a" :1 , "b" :2}`)
	})
	t.Run("raw publish", func(t *testing.T) {
		h.t = t
		body := []byte("\x00\x01\xff\"\\,\x1a")
		h.send(fmt.Sprintf(`AT+TCMQTTPUBRAW="%s",1,%d`, hub.topic("event"), len(body)))
		h.expect("OK", ">")
		h.raw(append(body, "\r\n"...))
		h.expect("+TCMQTTPUBRAW:OK")
		assert.True(t, hub.sent(t, base64.StdEncoding.EncodeToString(body)).Binary)
	})
	t.Run("limits", func(t *testing.T) {
		h.t = t
		h.do(fmt.Sprintf(`AT+TCMQTTPUBL="%s",0,2049`, data), "+CME ERROR:204")
		h.send(fmt.Sprintf(`AT+TCMQTTPUB="%s",0,"%s"`, data, strings.Repeat("x", 230)))
		h.expect("ERROR")
		h.do(fmt.Sprintf(`AT+TCMQTTPUB="%s",2,"x"`, data), "+CME ERROR:204")
		h.send(fmt.Sprintf(`AT+TCMQTTSUB="%s/x",0`, strings.Repeat("t", 128)))
		h.expect("+CME ERROR:204")
		h.do(fmt.Sprintf(`AT+TCMQTTPUB="%s",0`, data), "ERROR")
		// the payload must be followed by CR LF; "+++" CR LF gives up
		h.do(fmt.Sprintf(`AT+TCMQTTPUBL="%s",0,3`, data), "OK", ">")
		h.raw([]byte("abcXY"))
		h.expect("+CME ERROR:204")
		h.do(fmt.Sprintf(`AT+TCMQTTPUBL="%s",0,10`, data), "OK", ">")
		h.raw([]byte("ab+++\r\n"))
		h.expect("+CME ERROR:204")
	})
	t.Run("a refused subscription", func(t *testing.T) {
		h.t = t
		h.do(`AT+TCMQTTSUB="OTHERPROD1/dev9/control",0`, "OK", "+TCMQTTSUB:FAIL,-108")
	})
	t.Run("binary payload is cut at NUL", func(t *testing.T) {
		h.t = t
		// the firmware writes the URC with strlen (see rcvpub)
		require.NoError(t, hub.Publish(control, []byte("ab\x00cd"), 0))
		h.exactly([]byte(fmt.Sprintf(`+TCMQTTRCVPUB:"%s",5,"ab`, control)))
		h.do("AT", "OK")
	})
	t.Run("unsubscribe", func(t *testing.T) {
		h.t = t
		h.do(fmt.Sprintf(`AT+TCMQTTUNSUB="%s"`, sys), "OK", "+TCMQTTUNSUB:OK")
		h.do(fmt.Sprintf(`AT+TCMQTTUNSUB="%s"`, sys), "OK", "+TCMQTTUNSUB:FAIL,-121")
		h.do("AT+TCMQTTSUB?", fmt.Sprintf(`+TCMQTTSUB:"%s",1`, control), "OK")
		assert.Eventually(t, func() bool { return len(hub.status().Subscriptions) == 1 }, guard, 10*time.Millisecond)
	})
	t.Run("disconnect", func(t *testing.T) {
		h.t = t
		h.do("AT+TCMQTTDISCONN", "+TCMQTTDISCON,2", "OK")
		h.do("AT+TCMQTTSTATE?", "+TCMQTTSTATE:0", "OK")
		assert.Eventually(t, func() bool { return !hub.status().Connected }, guard, 10*time.Millisecond)
	})
}

// sent waits for the device's last message to the hub to be payload
// (as hubsim records it: base64 when binary) and returns it.
func (hub *tcHub) sent(t *testing.T, payload string) hubsim.Record {
	t.Helper()
	var last hubsim.Record
	ok := assert.Eventually(t, func() bool {
		for _, r := range hub.Messages(hub.info.ProductID, hub.info.DeviceName) {
			if r.Direction == hubsim.Up {
				last = r
			}
		}
		return last.Payload == payload
	}, guard, 10*time.Millisecond)
	require.True(t, ok, "last message to the hub: %+v", last)
	return last
}

// TestTencentWrongSecret: the hub refuses the CONNECT (CONNACK 4), which
// the SDK reports as -116 (QCLOUD_ERR_MQTT_CONNACK_BAD_USERDATA).
func TestTencentWrongSecret(t *testing.T) {
	hub := startTCHub(t)
	_, h := tcUp(t, hub, atsim.Config{})
	hub.devInfo(h, base64.StdEncoding.EncodeToString([]byte("not the secret!!")))
	h.do("AT+TCMQTTCONN=1,5000,240,1,1", "OK", "+TCMQTTCONN:FAIL,-116")
	h.do("AT+TCMQTTSTATE?", "+TCMQTTSTATE:0", "OK")
	st := hub.status()
	require.NotNil(t, st.LastRefusal)
	assert.False(t, st.Connected)
}
