package attencent

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParseResult(t *testing.T) {
	rows := []struct {
		line   string
		want   result
		wantOK bool
	}{
		{"+TCMQTTPUB:OK", result{ok: true}, true},
		{"+TCMQTTPUB: OK", result{ok: true}, true},
		{"+TCMQTTPUB:FAIL,202", result{code: 202}, true},
		{"+TCMQTTSUB:FAIL,-108", result{code: -108}, true},
		{"+TCMQTTSRV:FAIL", result{}, true},
		{"+TCMQTTPUBL:OK", result{}, false},
		{"+TCMQTTPUB:FAIL,x", result{}, false},
		{"+TCMQTTPUB", result{}, false},
	}
	for _, row := range rows {
		got, ok := parseResult(row.line, prefixOf(row.line))
		if row.line == "+TCMQTTPUBL:OK" {
			got, ok = parseResult(row.line, "+TCMQTTPUB")
		}
		assert.Equal(t, row.wantOK, ok, row.line)
		assert.Equal(t, row.want, got, row.line)
	}
}

func prefixOf(l string) string {
	for i := 0; i < len(l); i++ {
		if l[i] == ':' {
			return l[:i]
		}
	}
	return l
}

func TestParseDisconAndReceive(t *testing.T) {
	code, ok := parseDiscon("+TCMQTTDISCON,-103")
	assert.True(t, ok)
	assert.Equal(t, -103, code)
	code, ok = parseDiscon("+TCMQTTDISCON: 0")
	assert.True(t, ok)
	assert.Equal(t, 0, code)
	_, ok = parseDiscon("+TCMQTTDISCONN")
	assert.False(t, ok)

	topic, ok := parseRcvTopic(`+TCMQTTRCVPUB:"P/d/control"`)
	assert.True(t, ok)
	assert.Equal(t, "P/d/control", topic)
	_, ok = parseRcvTopic(`+TCMQTTRCVPUB:""`)
	assert.False(t, ok)
	n, ok := parseRcvLen(`,12,"`, 100)
	assert.True(t, ok)
	assert.Equal(t, 12, n)
	_, ok = parseRcvLen(`,101,"`, 100)
	assert.False(t, ok)
	_, ok = parseRcvLen(`,-1,"`, 100)
	assert.False(t, ok)
}

func TestParseInfoStateJoined(t *testing.T) {
	info := parseInfo([]string{"Module HW name: ESP-WROOM-02D", "Tencent Cloud IoT AT  version: v2", "junk"})
	assert.Equal(t, "ESP-WROOM-02D", info["Module HW name"])
	assert.Equal(t, "v2", info["Tencent Cloud IoT AT version"])
	up, ok := parseState([]string{"+TCMQTTSTATE:1"})
	assert.True(t, up && ok)
	up, ok = parseState([]string{"+TCMQTTSTATE: 0"})
	assert.True(t, !up && ok)
	assert.Equal(t, "lab", parseJoined([]string{`+CWJAP:"lab","aa:bb:cc:dd:ee:ff",6,-50,0,0,0,0,0`}))
	assert.Equal(t, "", parseJoined([]string{"No AP"}))
}

func TestPublishCmd(t *testing.T) {
	p, err := publishCmd("P/d/event", 1, []byte(`{"a":"b,c\d"}`))
	assert.NoError(t, err)
	assert.Equal(t, `AT+TCMQTTPUB="P/d/event",1,"{\"a\":\"b\,c\\d\"}"`, p.text)
	p, err = publishCmd("P/d/event", 0, []byte("a\nb"))
	assert.NoError(t, err)
	assert.Equal(t, `AT+TCMQTTPUBL="P/d/event",0,3`, p.text)
	assert.Equal(t, "a\nb\r\n", string(p.payload))
	p, err = publishCmd("P/d/event", 0, []byte("a\x00b"))
	assert.NoError(t, err)
	assert.Equal(t, "+TCMQTTPUBRAW", p.name)
	_, err = publishCmd("P/d/event", 0, make([]byte, maxPubL+1))
	assert.ErrorContains(t, err, "at most 2048")
	_, err = publishCmd("P/d/event", 0, nil)
	assert.ErrorIs(t, err, errEmptyPayload)
}

// The device secret never shows in an error.
func TestIdentityErrorsHideTheSecret(t *testing.T) {
	err := checkIdentity("PROD000001", "dev", "this-secret-is-far-too-long-for-the-firmware-to-take")
	assert.ErrorContains(t, err, "at most 44")
	assert.NotContains(t, err.Error(), "this-secret")
}
