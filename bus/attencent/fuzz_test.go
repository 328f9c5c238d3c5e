package attencent

import (
	"strings"
	"testing"
)

// Every parser of module output, fed anything: no panic, and what it
// accepts is consistent with its input.

func FuzzParseResult(f *testing.F) {
	for _, s := range []string{"+TCMQTTPUB:OK", "+TCMQTTPUB:FAIL,202", "+TCMQTTPUB: FAIL,-103", "+TCMQTTPUB:FAIL", "+TCMQTTPUB:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		r, ok := parseResult(line, "+TCMQTTPUB")
		if ok && !strings.HasPrefix(line, "+TCMQTTPUB:") {
			t.Fatalf("accepted %q", line)
		}
		if r.ok && r.code != 0 {
			t.Fatalf("OK with a code: %q", line)
		}
	})
}

func FuzzParseDiscon(f *testing.F) {
	for _, s := range []string{"+TCMQTTDISCON,-103", "+TCMQTTDISCON: 0", "+TCMQTTDISCON", "+TCMQTTDISCON,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		if _, ok := parseDiscon(line); ok && !strings.HasPrefix(line, "+TCMQTTDISCON") {
			t.Fatalf("accepted %q", line)
		}
	})
}

func FuzzParseRcvPub(f *testing.F) {
	f.Add(`+TCMQTTRCVPUB:"a/b"`, `,5,"`)
	f.Add(`+TCMQTTRCVPUB: "a"`, `,0,"`)
	f.Add(`+TCMQTTRCVPUB:"`, `,,"`)
	f.Fuzz(func(t *testing.T, header, length string) {
		if topic, ok := parseRcvTopic(header); ok && (topic == "" || strings.Contains(topic, `"`)) {
			t.Fatalf("topic %q from %q", topic, header)
		}
		if n, ok := parseRcvLen(length, 1000); ok && (n < 0 || n > 1000) {
			t.Fatalf("length %d from %q", n, length)
		}
	})
}

func FuzzParseLists(f *testing.F) {
	f.Add("Module HW name: ESP\n+TCMQTTSTATE:1\n+CWJAP:\"lab\",\"aa\",6")
	f.Add("+CWJAP:\"\n+TCMQTTSTATE: 0\n:")
	f.Fuzz(func(t *testing.T, text string) {
		lines := strings.Split(text, "\n")
		for k := range parseInfo(lines) {
			if k == "" {
				t.Fatal("empty key")
			}
		}
		parseState(lines)
		if ssid := parseJoined(lines); ssid != "" && !strings.Contains(text, ssid) {
			t.Fatalf("ssid %q not in %q", ssid, text)
		}
	})
}

// FuzzPublishCmd: whatever the payload, the chosen command either carries
// it in a line that fits the module's and has no line end, or counts it.
func FuzzPublishCmd(f *testing.F) {
	f.Add([]byte(`{"a":1}`))
	f.Add([]byte("a\r\nb"))
	f.Add([]byte(`\"`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		p, err := publishCmd("P/d/event", 1, payload)
		if err != nil {
			return
		}
		if strings.ContainsAny(p.text, "\r\n") || len(p.text)+2 > maxLine {
			t.Fatalf("bad line %q", p.text)
		}
		if p.payload != nil && len(p.payload) != len(payload)+2 {
			t.Fatalf("payload of %d bytes for %d", len(p.payload), len(payload))
		}
	})
}
