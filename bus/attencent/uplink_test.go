package attencent_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/bus/attencent"
	"github.com/iotd/iotd/core/linkstate"
	"github.com/iotd/iotd/drivers/at/atsim"
)

// Publishing through the module, QoS 0 and 1, with each publish command:
// text in AT+TCMQTTPUB (quotes and commas escaped), a long payload after
// AT+TCMQTTPUBL's prompt, one PUBL would rewrite with AT+TCMQTTPUBRAW.
// What the hub receives is what was published.
func TestPublishes(t *testing.T) {
	r := startRig(t, atsim.DialectTencent)
	r.connected(t, 1)
	ctx := r.ctx
	rows := []struct {
		name, payload, command string
		qos                    byte
	}{
		{"short text qos0", `{"a":"b,c"}`, "AT+TCMQTTPUB", 0},
		{"short text qos1", `{"temp":21.5}`, "AT+TCMQTTPUB", 1},
		{"long text", `{"x":"` + strings.Repeat("y", 400) + `"}`, "AT+TCMQTTPUBL", 1},
		{"line ends", "one\r\ntwo", "AT+TCMQTTPUBL", 0},
		{"escape sequences, short", `{"q":"a\"b\,c"}`, "AT+TCMQTTPUB", 1},
		{"escape sequences, long", `{"q":"a\"b\,c` + strings.Repeat("z", 300) + `"}`, "AT+TCMQTTPUBRAW", 1},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			before := r.modem.Stats().ByName[row.command]
			require.NoError(t, r.bus.CloudPublish(ctx, r.topic("event"), []byte(row.payload), row.qos))
			r.hubGot(t, r.topic("event"), row.payload)
			assert.Greater(t, r.modem.Stats().ByName[row.command], before, "sent with %s", row.command)
		})
	}
	_, err := r.bus.CloudPublishWith(ctx, r.topic("event"), nil, bus.PublishOptions{})
	assert.ErrorIs(t, err, bus.ErrRefused, "an empty payload cannot go through the module")
}

// A subscription made through the bus: what the hub sends on the topic
// arrives on the bus intact, quotes, commas and CR LF included, delimited
// by its length.
func TestSubscribeReceives(t *testing.T) {
	r := startRig(t, atsim.DialectTencent)
	r.connected(t, 1)
	ch, err := r.bus.CloudSubscribe(r.ctx, r.topic("control"), 1)
	require.NoError(t, err)
	assert.Contains(t, r.up.Status().Subscriptions, r.topic("control"))
	for _, p := range []string{`{"a":"x","b":1}`, "line\r\nOK\r\n\"", `,5,"`} {
		require.NoError(t, r.hub.Publish(r.topic("control"), []byte(p), 0))
		m := next(t, ch)
		assert.Equal(t, p, string(m.Payload))
		assert.Equal(t, r.topic("control"), m.Metadata.Get(bus.MetaTopic))
	}
}

// The module loses its connection (the hub closes it after a publish the
// device may not make) and reconnects by itself: the link goes
// disconnected, connecting, connected again, and the subscription works
// without the uplink having to make it again.
func TestModuleReconnects(t *testing.T) {
	r := startRig(t, atsim.DialectTencent)
	r.connected(t, 1)
	ch, err := r.bus.CloudSubscribe(r.ctx, r.topic("control"), 0)
	require.NoError(t, err)
	subs := r.modem.Stats().ByName["AT+TCMQTTSUB"]

	require.NoError(t, r.bus.CloudPublish(r.ctx, "OTHERPROD1/dev9/data", []byte("x"), 0))
	st := r.states.wait(t, linkstate.Disconnected, 1)
	assert.Contains(t, st.Err, "-103")
	r.states.wait(t, linkstate.Connected, 2)
	assert.Equal(t, subs, r.modem.Stats().ByName["AT+TCMQTTSUB"], "the module restored the subscription itself")

	require.Eventually(t, func() bool { return len(r.hub.Status(r.info.ProductID, r.info.DeviceName).Subscriptions) == 1 }, guard, 10e6)
	require.NoError(t, r.hub.Publish(r.topic("control"), []byte("back"), 0))
	assert.Equal(t, "back", string(next(t, ch).Payload))
	require.NoError(t, r.bus.CloudPublish(r.ctx, r.topic("event"), []byte("after"), 1))
	r.hubGot(t, r.topic("event"), "after")
}

// The module reboots mid-session: the uplink sees its banner, brings the
// session up again (the client task is gone with the reboot) and makes
// the subscriptions again; a publish queued meanwhile goes out.
func TestModuleReboot(t *testing.T) {
	r := startRig(t, atsim.DialectTencent)
	r.connected(t, 1)
	ch, err := r.bus.CloudSubscribe(r.ctx, r.topic("control"), 1)
	require.NoError(t, err)

	r.modem.Reboot()
	st := r.states.wait(t, linkstate.Disconnected, 1)
	assert.Contains(t, st.Err, "rebooted")
	require.NoError(t, r.bus.CloudPublish(r.ctx, r.topic("event"), []byte(`{"after":"reboot"}`), 1))
	r.hubGot(t, r.topic("event"), `{"after":"reboot"}`)
	r.connected(t, 2)

	require.Eventually(t, func() bool { return len(r.hub.Status(r.info.ProductID, r.info.DeviceName).Subscriptions) == 1 }, guard, 10e6)
	require.NoError(t, r.hub.Publish(r.topic("control"), []byte("again"), 1))
	assert.Equal(t, "again", string(next(t, ch).Payload))
}

// A module without the TC firmware (a Quectel, which answers ERROR to
// AT+TCMODULE) is reported with the fix, and retried with backoff.
func TestNoTCFirmware(t *testing.T) {
	r := startRig(t, atsim.DialectQuectel)
	st := r.states.wait(t, linkstate.Disconnected, 1)
	assert.Equal(t, attencent.ErrNoTCFirmware.Error(), st.Err)
	assert.Contains(t, st.Err, "flash the QCloud AT firmware")
	r.states.wait(t, linkstate.Disconnected, 2)
}
