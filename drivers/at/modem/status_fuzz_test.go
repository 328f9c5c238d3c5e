package modem

import (
	"strings"
	"testing"
)

// The parsers of the status queries take module output: they never panic,
// and what they return is in range.

func FuzzICCIDAndIMEI(f *testing.F) {
	for _, s := range []string{
		"+CCID: 89860012345678901236", "+QCCID: 89860012345678901234", "+ICCID: 8986001234567890123F",
		"89860012345678901234", `+CCID: "8986"`, "866425030000001", "+CGSN: 866425030000001", "+CGSN:", "x:y:z",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		lines := strings.Split(in, "\n")
		if id := parseICCID(lines); id != "" && (len(id) < 18 || len(id) > 21 || !iccidRe.MatchString(id)) {
			t.Fatalf("ICCID %q from %q", id, in)
		}
		if id := parseIMEI(lines); id != "" && !imeiRe.MatchString(id) {
			t.Fatalf("IMEI %q from %q", id, in)
		}
	})
}

func FuzzCOPS(f *testing.F) {
	for _, s := range []string{`+COPS: 0,0,"CHINA MOBILE",7`, `+COPS: 0,2,"46000",8`, `+COPS: 0`, `+COPS: 1,0,"a,b"`, `+COPS:`, "+COPS: 0,0,\"\x00\x1b[2J\",x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		oper, act, ok := parseCOPS(line)
		if !ok {
			return
		}
		if act < -1 || len(oper) > 64 || strings.ContainsFunc(oper, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("%q, %d from %q", oper, act, line)
		}
		_ = accessTech(act)
	})
}

func FuzzReg(f *testing.F) {
	for _, s := range []string{`+CEREG: 0,1`, `+CEREG: 2,1,"1A2B","01C2D3E4",7`, `+CREG: 2,5,"00C3","A7D1",0`, `+CGREG: 0,x`, `+CEREG: 2`, `+CEREG: 0,-3`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		for _, p := range []string{"+CEREG", "+CGREG", "+CREG"} {
			stat, act, ok := parseReg(line, p)
			if ok && (stat < 0 || act < -1) {
				t.Fatalf("stat %d act %d from %q", stat, act, line)
			}
			_ = regState(stat)
		}
	})
}

func FuzzCESQ(f *testing.F) {
	for _, s := range []string{`+CESQ: 99,99,255,255,20,46`, `+CESQ: 99,99,255,255,34,97`, `+CESQ: 99,99,255,255,0,0`, `+CESQ: 1,2`, `+CESQ: 99,99,255,255,255,255`, `+CESQ: 99,99,255,255,-4,999`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		rsrp, rsrq, ok := parseCESQ(line)
		if !ok {
			return
		}
		if rsrp != 0 && (rsrp < -141 || rsrp > -44) || rsrq != 0 && (rsrq < -20 || rsrq > -3) {
			t.Fatalf("rsrp %d rsrq %v from %q", rsrp, rsrq, line)
		}
	})
}

func TestStatusParsers(t *testing.T) {
	if got := parseICCID([]string{"+ICCID: 89860012345678901235"}); got != "89860012345678901235" {
		t.Fatalf("ICCID %q", got)
	}
	if oper, act, ok := parseCOPS(`+COPS: 0,0,"CHINA MOBILE",7`); !ok || oper != "CHINA MOBILE" || act != 7 {
		t.Fatalf("COPS %q %d %v", oper, act, ok)
	}
	if oper, act, ok := parseCOPS(`+COPS: 0`); !ok || oper != "" || act != -1 {
		t.Fatalf("COPS unregistered %q %d %v", oper, act, ok)
	}
	if stat, act, ok := parseReg(`+CEREG: 2,5,"1A2B","01C2D3E4",9`, "+CEREG"); !ok || stat != 5 || act != 9 || regState(stat) != "roaming" || accessTech(act) != "NB-IoT" {
		t.Fatalf("CEREG %d %d %v", stat, act, ok)
	}
	if rsrp, rsrq, ok := parseCESQ(`+CESQ: 99,99,255,255,20,46`); !ok || rsrp != -95 || rsrq != -10 {
		t.Fatalf("CESQ %d %v %v", rsrp, rsrq, ok)
	}
	if rsrp, rsrq, ok := parseCESQ(`+CESQ: 99,99,255,255,255,255`); !ok || rsrp != 0 || rsrq != 0 {
		t.Fatalf("CESQ unknown %d %v", rsrp, rsrq)
	}
}
