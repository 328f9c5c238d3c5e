package atsim

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseLine(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		escapes bool
		want    []command
		err     error
	}{
		{"bare AT", "AT", false, []command{{name: "", num: -1}}, nil},
		{"lower case", "at+csq", false, []command{{name: "+CSQ", num: -1}}, nil},
		{"noise before AT", "\x1a\x00AT", false, []command{{name: "", num: -1}}, nil},
		{"basic chain", "ATE0V1", false, []command{{name: "E", num: 0}, {name: "V", num: 1}}, nil},
		{"read", "AT+CEREG?", false, []command{{name: "+CEREG", kind: kindRead, num: -1}}, nil},
		{"test", "AT+QIOPEN=?", false, []command{{name: "+QIOPEN", kind: kindTest, num: -1}}, nil},
		{"set", `AT+QIOPEN=1,0,"TCP","10.0.0.1",8883,0,1`, false, []command{{name: "+QIOPEN", kind: kindSet, num: -1, args: []arg{
			{s: "1"}, {s: "0"}, {s: "TCP", quoted: true}, {s: "10.0.0.1", quoted: true}, {s: "8883"}, {s: "0"}, {s: "1"}}}}, nil},
		{"empty args", `AT+CIPOPEN=0,"UDP",,,5000`, false, []command{{name: "+CIPOPEN", kind: kindSet, num: -1, args: []arg{
			{s: "0"}, {s: "UDP", quoted: true}, {}, {}, {s: "5000"}}}}, nil},
		{"comma in quotes", `AT+CWJAP="a,b","p;w"`, false, []command{{name: "+CWJAP", kind: kindSet, num: -1, args: []arg{
			{s: "a,b", quoted: true}, {s: "p;w", quoted: true}}}}, nil},
		{"ESP escapes", `AT+CWJAP="a\"b","c\\d"`, true, []command{{name: "+CWJAP", kind: kindSet, num: -1, args: []arg{
			{s: `a"b`, quoted: true}, {s: `c\d`, quoted: true}}}}, nil},
		{"extended chain", "AT+CMEE=1;+CREG=2", false, []command{
			{name: "+CMEE", kind: kindSet, num: -1, args: []arg{{s: "1"}}},
			{name: "+CREG", kind: kindSet, num: -1, args: []arg{{s: "2"}}}}, nil},
		{"S register", "ATS0=0", false, []command{{name: "S", num: 0, kind: kindSet, args: []arg{{s: "0"}}}}, nil},
		{"no AT", "hello", false, nil, errNoAT},
		{"unterminated", `AT+CWJAP="abc`, false, nil, errUnclosedQ},
		{"junk after quote", `AT+X="a"b`, false, nil, errSyntax},
		{"bad name", "AT+=1", false, nil, errSyntax},
		{"bad basic", "AT*", false, nil, errSyntax},
		{"too long", "AT+X=" + strings.Repeat("1", maxLineLen), false, nil, errTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseLine(tt.line, tt.escapes)
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func FuzzCommandLine(f *testing.F) {
	for _, s := range []string{
		"AT", "ATE0", "ATE0V1Q0", "AT+CSQ", "AT+CEREG?", "AT+QIOPEN=?",
		`AT+QIOPEN=1,0,"TCP","10.0.0.1",8883,0,1`, `AT+CWJAP="a\"b","c\\d"`,
		"AT+CMEE=1;+CREG=2", `AT+CIPOPEN=0,"UDP",,,5000`, "ATS0=0", "AT&F", "\x1aAT+QISEND=0,5",
		`AT+X="`, "AT+=", "\xc0at", "\xff\xfeAT+X", "AT+USOWR=0,5,\"\x00\xff\"", "at+cipsend=0,8192",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, line string, escapes bool) {
		cmds, err := parseLine(line, escapes)
		if err != nil {
			assert.Empty(t, cmds)
			return
		}
		require.NotEmpty(t, cmds)
		for _, c := range cmds {
			assert.Equal(t, strings.ToUpper(c.name), c.name)
			assert.Contains(t, []int{kindExec, kindRead, kindTest, kindSet}, c.kind)
			if c.kind != kindSet {
				assert.Empty(t, c.args)
			}
			for _, a := range c.args {
				if !a.quoted {
					assert.NotContains(t, a.s, ",")
					assert.NotContains(t, a.s, ";")
				}
			}
		}
	})
}
