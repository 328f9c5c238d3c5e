package atsim_test

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/drivers/at"
	"github.com/iotd/iotd/drivers/at/atsim"
)

func ubloxUp(t *testing.T, cfg atsim.Config) (*atsim.Modem, *at.Engine) {
	t.Helper()
	cfg.Dialect = atsim.DialectUBlox
	m, e := start(t, cfg, at.Options{})
	run(t, e, "AT")
	run(t, e, "ATE0")
	run(t, e, "AT+CMEE=1")
	run(t, e, `AT+CGDCONT=1,"IP","iot"`)
	run(t, e, "AT+CGACT=1,1")
	// +USORD: <s>,<n>,"<data>": the header ends at the opening quote.
	require.NoError(t, e.HandleURC(at.URC{Prefix: "+USORD:", HeaderEnd: '"', Line: func(string) int { return 0 }}))
	return m, e
}

func usocr(t *testing.T, e *at.Engine, proto int) int {
	t.Helper()
	r := run(t, e, fmt.Sprintf("AT+USOCR=%d", proto))
	require.Len(t, r.Lines, 1)
	id, err := strconv.Atoi(strings.TrimPrefix(r.Lines[0], "+USOCR: "))
	require.NoError(t, err)
	return id
}

func usowr(t *testing.T, e *at.Engine, id int, data []byte) {
	t.Helper()
	r := do(t, e, at.Command{Text: fmt.Sprintf("AT+USOWR=%d,%d", id, len(data)), Payload: data, PromptDelay: 60 * time.Millisecond})
	assert.Equal(t, []string{fmt.Sprintf("+USOWR: %d,%d", id, len(data))}, r.Lines)
}

// usord reads n bytes of socket id, waiting for +UUSORD when empty.
func usord(t *testing.T, e *at.Engine, notify *urcs, id, n int) []byte {
	t.Helper()
	var got []byte
	for len(got) < n {
		notify.next(t) // one +UUSORD per time the buffer fills
		r := do(t, e, at.Command{Text: fmt.Sprintf("AT+USORD=%d,1024", id), Raw: func(l string) int {
			if strings.HasPrefix(l, "+USORD: ") && strings.HasSuffix(l, `"`) {
				f := strings.Split(l, ",")
				k, _ := strconv.Atoi(f[1])
				return k
			}
			return 0
		}})
		assert.LessOrEqual(t, len(r.Data), 1024)
		got = append(got, r.Data...)
	}
	return got
}

func TestUBloxBringUp(t *testing.T) {
	_, e := start(t, atsim.Config{Dialect: atsim.DialectUBlox}, at.Options{})
	run(t, e, "ATE0")
	assert.Equal(t, []string{"SARA-R410M-02B"}, run(t, e, "AT+CGMM").Lines)
	assert.Contains(t, run(t, e, "ATI").Lines, "Manufacturer: u-blox")
	run(t, e, "AT+CMEE=2")
	var cme *at.CMEError
	require.ErrorAs(t, fails(t, e, "AT+USOCR=6"), &cme, "no PDP context yet")
	assert.Equal(t, "operation not allowed", cme.Text)
	// R5 style PSD profile.
	run(t, e, "AT+UPSD=0,100,1")
	run(t, e, "AT+UPSD=0,0,0")
	psd := watch(t, e, "+UUPSDA:")
	run(t, e, "AT+UPSDA=0,3")
	assert.Equal(t, `+UUPSDA: 0,"10.0.0.2"`, psd.next(t))
	assert.Equal(t, []string{"+UPSND: 0,8,1"}, run(t, e, "AT+UPSND=0,8").Lines)
	for want := range 7 {
		r := run(t, e, "AT+USOCR=6")
		assert.Equal(t, []string{fmt.Sprintf("+USOCR: %d", want)}, r.Lines, "the module picks the id")
	}
	fails(t, e, "AT+USOCR=6")
}

func TestUBloxSocket(t *testing.T) {
	p := newPeer(t)
	m, e := ubloxUp(t, atsim.Config{})
	notify := watch(t, e, "+UUSORD:")
	closed := watch(t, e, "+UUSOCL:")
	id := usocr(t, e, 6)
	run(t, e, fmt.Sprintf(`AT+USOCO=%d,"127.0.0.1",%d`, id, p.port()))
	conn := p.accepted(t)
	assert.Equal(t, []string{fmt.Sprintf("+USOCTL: %d,10,4", id)}, run(t, e, fmt.Sprintf("AT+USOCTL=%d,10", id)).Lines)

	data := append(append(allBytes(), nasty...), allBytes()...)
	usowr(t, e, id, data[:300])
	usowr(t, e, id, data[300:])
	assert.Equal(t, data, usord(t, e, notify, id, len(data)))
	assert.Equal(t, []string{fmt.Sprintf("+USORD: %d,0", id)}, run(t, e, fmt.Sprintf("AT+USORD=%d,0", id)).Lines)
	fails(t, e, fmt.Sprintf("AT+USOWR=%d,1025", id))

	// +UUSOCL waits until the data is read.
	usowr(t, e, id, []byte("bye"))
	notify.waitFor(t, fmt.Sprintf("+UUSORD: %d,3", id))
	conn.Close()
	run(t, e, "AT")
	assert.Empty(t, closed.ch)
	r := do(t, e, at.Command{Text: fmt.Sprintf("AT+USORD=%d,100", id), Raw: func(l string) int {
		if strings.HasPrefix(l, "+USORD: ") && strings.HasSuffix(l, `"`) {
			return 3
		}
		return 0
	}})
	assert.Equal(t, "bye", string(r.Data))
	assert.Equal(t, fmt.Sprintf("+UUSOCL: %d", id), closed.next(t))
	assert.Empty(t, m.OpenSockets())
	assert.Equal(t, 0, m.Stats().EarlyData)
}

func TestUBloxAsyncConnectAndErrors(t *testing.T) {
	p := newPeer(t)
	_, e := ubloxUp(t, atsim.Config{})
	id := usocr(t, e, 6)
	r := do(t, e, at.Command{Text: fmt.Sprintf(`AT+USOCO=%d,"127.0.0.1",%d,1`, id, refusedPort(t)),
		Await: func(l string) bool { return strings.HasPrefix(l, "+UUSOCO:") }})
	assert.Equal(t, fmt.Sprintf("+UUSOCO: %d,111", id), r.Result)
	assert.Equal(t, []string{"+USOER: 111"}, run(t, e, "AT+USOER").Lines)
	run(t, e, fmt.Sprintf("AT+USOCL=%d", id))

	id = usocr(t, e, 6)
	var cme *at.CMEError
	require.ErrorAs(t, fails(t, e, fmt.Sprintf(`AT+USOCO=%d,"127.0.0.1",%d`, id, refusedPort(t))), &cme)
	assert.Equal(t, 3, cme.Code)
	r = do(t, e, at.Command{Text: fmt.Sprintf(`AT+USOCO=%d,"127.0.0.1",%d,1`, id, p.port()),
		Await: func(l string) bool { return strings.HasPrefix(l, "+UUSOCO:") }})
	assert.Equal(t, fmt.Sprintf("+UUSOCO: %d,0", id), r.Result)
}

func TestUBloxPromptGuard(t *testing.T) {
	p := newPeer(t)
	m, e := ubloxUp(t, atsim.Config{PromptGuard: 3 * time.Second})
	id := usocr(t, e, 6)
	run(t, e, fmt.Sprintf(`AT+USOCO=%d,"127.0.0.1",%d`, id, p.port()))
	// Data right after "@" (no wait) is lost, as on the module. The
	// guard is long here so that a slow test machine cannot miss it.
	_, err := e.Do(t.Context(), at.Command{Text: fmt.Sprintf("AT+USOWR=%d,4", id), Payload: []byte("fast"),
		Timeout: 300 * time.Millisecond})
	require.ErrorIs(t, err, at.ErrTimeout)
	assert.Positive(t, m.Stats().EarlyData)
}

func TestUBloxHexAndUDP(t *testing.T) {
	u := newUDPEcho(t)
	_, e := ubloxUp(t, atsim.Config{Hosts: map[string]string{"echo.example": "127.0.0.1"}})
	assert.Equal(t, []string{`+UDNSRN: "127.0.0.1"`}, run(t, e, `AT+UDNSRN=0,"echo.example"`).Lines)
	notify := watch(t, e, "+UUSORF:")
	id := usocr(t, e, 17)
	r := run(t, e, fmt.Sprintf(`AT+USOST=%d,"127.0.0.1",%d,4,"ping"`, id, u.port()))
	assert.Equal(t, []string{fmt.Sprintf("+USOST: %d,4", id)}, r.Lines)
	assert.Equal(t, fmt.Sprintf("+UUSORF: %d,4", id), notify.next(t))
	// text data without line ends can be read as a line
	r = run(t, e, fmt.Sprintf("AT+USORF=%d,100", id))
	assert.Equal(t, []string{fmt.Sprintf(`+USORF: %d,"127.0.0.1",%d,4,"ping"`, id, u.port())}, r.Lines)

	run(t, e, "AT+UDCONF=1,1")
	assert.Equal(t, []string{"+UDCONF: 1,1"}, run(t, e, "AT+UDCONF=1").Lines)
	run(t, e, fmt.Sprintf(`AT+USOCO=%d,"echo.example",%d`, id, u.port()))
	data := allBytes()
	r = run(t, e, fmt.Sprintf(`AT+USOWR=%d,256,"%s"`, id, hex.EncodeToString(data)))
	assert.Equal(t, []string{fmt.Sprintf("+USOWR: %d,256", id)}, r.Lines)
	assert.Equal(t, fmt.Sprintf("+UUSORF: %d,256", id), notify.next(t))
	r = run(t, e, fmt.Sprintf("AT+USORF=%d,512", id))
	require.Len(t, r.Lines, 1)
	f := strings.Split(r.Lines[0], ",")
	got, err := hex.DecodeString(strings.Trim(f[4], `"`))
	require.NoError(t, err)
	assert.Equal(t, data, got)
}

// A network that wants APN credentials refuses the activation (+CME
// ERROR: 149) until AT+UAUTHREQ gives the right ones, password first as
// the SARA-R410M takes them; the module refuses AT+UAUTHREQ for a context
// that is undefined or active, and keeps the setting over a reboot.
func TestUBloxAPNAuth(t *testing.T) {
	m, e := start(t, atsim.Config{Dialect: atsim.DialectUBlox, APNUser: "iot-user", APNPassword: "s3cret"}, at.Options{})
	run(t, e, "ATE0")
	run(t, e, "AT+CMEE=1")
	cmeCode := func(text string) int {
		t.Helper()
		var cme *at.CMEError
		require.ErrorAs(t, fails(t, e, text), &cme)
		return cme.Code
	}
	assert.Equal(t, []string{"+UAUTHREQ: (1-8),(0-3),,"}, run(t, e, "AT+UAUTHREQ=?").Lines)
	assert.Equal(t, 3, cmeCode(`AT+UAUTHREQ=1,3,"s3cret","iot-user"`), "context 1 is not defined yet")
	run(t, e, `AT+CGDCONT=1,"IP","private.apn"`)
	assert.Equal(t, 149, cmeCode("AT+CGACT=1,1"), "no credentials")
	assert.Equal(t, 50, cmeCode(`AT+UAUTHREQ=1,4,"s3cret","iot-user"`))
	run(t, e, `AT+UAUTHREQ=1,1,"iot-user","s3cret"`) // the R5's order
	assert.Equal(t, 149, cmeCode("AT+CGACT=1,1"), "user and password swapped")
	run(t, e, `AT+UAUTHREQ=1,2,"wrong","iot-user"`)
	assert.Equal(t, 149, cmeCode("AT+CGACT=1,1"), "wrong password")
	run(t, e, `AT+UAUTHREQ=1,0`)
	assert.Equal(t, 149, cmeCode("AT+CGACT=1,1"), "authentication off")
	run(t, e, `AT+UAUTHREQ=1,3,"s3cret","iot-user"`)
	run(t, e, "AT+CGACT=1,1")
	assert.Equal(t, []string{"+CGACT: 1,1"}, run(t, e, "AT+CGACT?").Lines)
	assert.Equal(t, 3, cmeCode(`AT+UAUTHREQ=1,3,"s3cret","iot-user"`), "context 1 is active")

	run(t, e, "AT+CMEE=2")
	run(t, e, "AT+CGACT=0,1")
	run(t, e, `AT+UAUTHREQ=1,3,"other","iot-user"`)
	var cme *at.CMEError
	require.ErrorAs(t, fails(t, e, "AT+CGACT=1,1"), &cme)
	assert.Equal(t, "PDP authentication failure", cme.Text)
	run(t, e, `AT+UAUTHREQ=1,3,"s3cret","iot-user"`)

	// The setting is in NVM: after a reboot only the context is defined again.
	require.NoError(t, m.Inject(atsim.Fault{Kind: atsim.Reboot}))
	assert.Equal(t, 1, m.Stats().Reboots)
	run(t, e, "ATE0")
	run(t, e, `AT+CGDCONT=1,"IP","private.apn"`)
	run(t, e, "AT+CGACT=1,1")
}

// A network that wants no credentials activates the context whatever
// AT+UAUTHREQ set.
func TestUBloxAPNAuthNotRequired(t *testing.T) {
	_, e := start(t, atsim.Config{Dialect: atsim.DialectUBlox}, at.Options{})
	run(t, e, "ATE0")
	run(t, e, `AT+CGDCONT=1,"IP","internet"`)
	run(t, e, `AT+UAUTHREQ=1,3,"any","thing"`)
	run(t, e, "AT+CGACT=1,1")
}
