package atsim

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzTencentCommand feeds command lines, as ESP-AT parses them, to the
// TC commands' parameter checks: no panic, every outcome is pass, ERROR
// or +CME ERROR:204, and whatever passes is within the firmware's limits.
// The PUBL escape workaround and the +TCMQTTRCVPUB writer get the line's
// bytes too.
func FuzzTencentCommand(f *testing.F) {
	for _, s := range []string{
		`AT+TCDEVINFOSET=1,"PROD000001","dev1","c2VjcmV0c2VjcmV0MTIzNA=="`,
		`AT+TCDEVINFOSET=1,"P","d","s","ap-guangzhou"`, `AT+TCDEVINFOSET="1","P","d","s"`,
		"AT+TCMQTTCONN=1,5000,240,1,1", "AT+TCMQTTCONN=1,500,60,0,0", "AT+TCMQTTCONN=1,,240,1,1",
		`AT+TCMQTTPUB="P/d/data",1,"{\"a\":1\,\"b\":\"x\"}"`, `AT+TCMQTTPUB="P/d/data",0,""`,
		`AT+TCMQTTPUBL="P/d/data",1,2048`, `AT+TCMQTTPUBRAW="P/d/data",0,0`, `AT+TCMQTTSUB="P/d/#",1`,
		`AT+TCMQTTUNSUB="P/d/+"`, `AT+TCOTASET=1,"1.0.0"`, "AT+TCREADFWDATA=4096", `AT+TCMQTTSRV="h"`,
		"AT+TCMQTTPUB=\"t\",1,\"\\\"\\\\\\,\\\"\"", "AT+TCMQTTSUB=\"" + strings.Repeat("t", 129) + "\",0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		cmds, err := parseLine(line, true)
		if err != nil {
			return
		}
		for _, c := range cmds {
			checkTCArgs(t, c.args)
		}
		checkCleanEscapes(t, []byte(line))
		checkRcvpub(t, line)
	})
}

func checkTCArgs(t *testing.T, args []arg) {
	outcome := func(what string, f tcFail) bool {
		if f != tcPass && f != tcSyntax && f != tcBad {
			t.Fatalf("%s: outcome %d", what, f)
		}
		return f == tcPass
	}
	topicOK := func(what, topic string, qos byte) {
		if len(topic) < 1 || len(topic) > tcMaxTopic || qos > 1 {
			t.Fatalf("%s passed topic %q qos %d", what, topic, qos)
		}
	}
	if v, f := parseDevInfo(args); outcome("devinfo", f) {
		if v.tls != 1 || len(v.pid) < 1 || len(v.pid) > tcMaxProductID || len(v.dn) < 1 || len(v.dn) > tcMaxDeviceName ||
			len(v.secret) < 1 || len(v.secret) > tcMaxSecret || len(v.region) < 1 || len(v.region) > tcMaxRegion {
			t.Fatalf("devinfo passed %+v", v)
		}
	}
	if p, f := parseConn(args); outcome("conn", f) {
		if p.timeout.Milliseconds() < tcMinCmdTimeout || p.timeout.Milliseconds() > tcMaxCmdTimeout || p.keepalive < 60 || p.keepalive > 690 {
			t.Fatalf("conn passed %+v", p)
		}
	}
	if topic, qos, payload, f := parsePub(args); outcome("pub", f) {
		topicOK("pub", topic, qos)
		if payload == "" {
			t.Fatal("pub passed an empty payload")
		}
	}
	if topic, qos, n, f := parsePubL(args); outcome("publ", f) {
		topicOK("publ", topic, qos)
		if n < 1 || n > tcMaxPubL {
			t.Fatalf("publ passed length %d", n)
		}
	}
	if topic, qos, f := parseSub(args); outcome("sub", f) {
		topicOK("sub", topic, qos)
	}
	if topic, f := parseUnsub(args); outcome("unsub", f) {
		topicOK("unsub", topic, 0)
	}
	if _, ver, f := parseOTASet(args); outcome("otaset", f) && (ver == "" || len(ver) > tcMaxVersion) {
		t.Fatalf("otaset passed version %q", ver)
	}
	if n, f := parseReadFW(args); outcome("readfw", f) && (n < 1 || n > tcMaxReadFW) {
		t.Fatalf("readfw passed %d", n)
	}
	if host, f := parseSrv(args); outcome("srv", f) && len(host) > tcMaxHost {
		t.Fatalf("srv passed %d bytes", len(host))
	}
}

// checkCleanEscapes: the workaround keeps the length and every quote and
// comma; it only turns backslashes into spaces and moves quotes by one.
func checkCleanEscapes(t *testing.T, in []byte) {
	out := append([]byte(nil), in...)
	cleanEscapes(out)
	if len(out) != len(in) {
		t.Fatalf("length %d became %d", len(in), len(out))
	}
	for _, c := range []byte{'"', ',', 0} {
		if bytes.Count(out, []byte{c}) != bytes.Count(in, []byte{c}) {
			t.Fatalf("%q count changed: %q → %q", c, in, out)
		}
	}
}

// checkRcvpub: the URC has its header, no NUL, and the whole payload with
// its end when the payload has no NUL.
func checkRcvpub(t *testing.T, payload string) {
	u := rcvpub("P/d/control", []byte(payload))
	head := `+TCMQTTRCVPUB:"P/d/control",`
	if !bytes.HasPrefix(u, []byte(head)) || bytes.IndexByte(u, 0) >= 0 {
		t.Fatalf("urc %q", u)
	}
	if !strings.Contains(payload, "\x00") && !bytes.HasSuffix(u, []byte(`,"`+payload+"\"\r\n")) {
		t.Fatalf("urc %q lost payload %q", u, payload)
	}
}
