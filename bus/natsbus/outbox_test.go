package natsbus_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/bus/natsbus"
	"github.com/iotd/iotd/bus/natsbus/natstest"
	"github.com/iotd/iotd/bus/outbox"
	"github.com/iotd/iotd/bus/outbox/outboxtest"
	"github.com/iotd/iotd/internal/leakcheck"
)

// openOutbox opens the outbox in stream on its own connection to url, as a
// restarted iotd would; both close at the end of the test.
func openOutbox(t *testing.T, url, stream string, opts outbox.Options) (*natsbus.Outbox, error) {
	t.Helper()
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	return natsbus.OpenOutbox(ctx, nc, natsbus.OutboxConfig{Stream: stream, Options: opts})
}

// TestOutboxContract runs the outbox.Store contract on a JetStream stream:
// the same table the file runs (bus/outbox's TestStoreContract).
func TestOutboxContract(t *testing.T) {
	srv := natstest.Run(t)
	n := 0
	outboxtest.Run(t, func(t *testing.T) outboxtest.Opener {
		n++
		stream := fmt.Sprintf("OUTBOX_contract%d", n)
		return func(t *testing.T, opts outbox.Options) (outbox.Store, error) {
			o, err := openOutbox(t, srv.ClientURL(), stream, opts)
			if err != nil {
				return nil, err
			}
			return o, nil
		}
	})
}

// TestOutboxFinishesWhatACrashInterrupted: Open completes a Park or a
// Retry whose second step (the deletion) a crash prevented, drops stale
// attempts markers, and lists a pending message whose headers fail their
// checks as a dead letter that can be dropped, not retried.
func TestOutboxFinishesWhatACrashInterrupted(t *testing.T) {
	srv := natstest.Run(t)
	const stream = "OUTBOX_crash"
	o, err := openOutbox(t, srv.ClientURL(), stream, outbox.Options{})
	require.NoError(t, err)
	ms, err := o.AppendBatch(context.Background(), []outbox.Message{
		{Topic: "t/a", QoS: 1, Payload: []byte("a")}, {Topic: " t/b", QoS: 1, Payload: []byte("b")}, {Topic: "t/c", QoS: 1, Payload: []byte("c")},
	})
	require.NoError(t, err)
	dead, err := o.Park(ms[2].Seq, "poison")
	require.NoError(t, err)
	require.NoError(t, o.Close())

	nc, err := nats.Connect(srv.ClientURL())
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx := context.Background()
	pub := func(sub string, h nats.Header, data string) uint64 {
		ack, err := js.PublishMsg(ctx, &nats.Msg{Subject: "_iotd_outbox." + stream + "." + sub, Header: h, Data: []byte(data)})
		require.NoError(t, err)
		return ack.Sequence
	}
	seq := func(n uint64) string { return strconv.FormatUint(n, 10) }
	// Park of ms[0] cut after its copy; Retry of the dead letter cut after
	// its new message; a marker of a Seq long gone; a foreign message.
	pub("dead", nats.Header{"Iotd-Topic": {"t/a"}, "Iotd-Qos": {"1"}, "Iotd-Accepted": {"1"}, "Iotd-Seq": {seq(ms[0].Seq)},
		"Iotd-Attempts": {"3"}, "Iotd-Reason": {"cut"}, "Iotd-Parked": {"2"}}, "a")
	retried := pub("msg", nats.Header{"Iotd-Topic": {"t/c"}, "Iotd-Qos": {"1"}, "Iotd-Accepted": {"3"}, "Iotd-Retried": {seq(dead.Seq)}}, "c")
	pub("att", nats.Header{"Iotd-Seq": {"999999"}, "Iotd-Attempts": {"2"}}, "")
	bad := pub("msg", nats.Header{"Iotd-Qos": {"7"}}, "junk")

	o, err = openOutbox(t, srv.ClientURL(), stream, outbox.Options{})
	require.NoError(t, err)
	p := o.Pending()
	require.Len(t, p, 2)
	assert.Equal(t, []uint64{ms[1].Seq, retried}, []uint64{p[0].Seq, p[1].Seq})
	assert.Equal(t, " t/b", p[0].Topic, "a topic's spaces survive its header")
	recs, err := o.Dead()
	require.NoError(t, err)
	require.Len(t, recs, 2)
	assert.Equal(t, ms[0].Seq, recs[0].Seq)
	assert.Equal(t, "cut", recs[0].Reason)
	assert.Equal(t, bad, recs[1].Seq)
	assert.Contains(t, recs[1].Reason, "corrupt record: ")
	assert.Equal(t, "junk", string(recs[1].Payload))
	_, err = o.Retry(bad)
	require.ErrorIs(t, err, outbox.ErrCorrupt)
	require.NoError(t, o.Drop(bad))
	require.NoError(t, o.Remove(ms[1].Seq, retried))
	require.NoError(t, o.Drop(ms[0].Seq))
	require.NoError(t, o.Close())

	st, err := js.Stream(ctx, stream)
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	assert.Zero(t, info.State.Msgs, "everything removed is deleted from the stream, markers included")
}

// Bounds raised after the stream was created raise its backstop limits,
// so that the stream never refuses what the outbox lets in.
func TestOutboxRaisesStreamLimits(t *testing.T) {
	srv := natstest.Run(t)
	o, err := openOutbox(t, srv.ClientURL(), "OUTBOX_grow", outbox.Options{MaxMessages: 10, MaxBytes: 1000})
	require.NoError(t, err)
	require.NoError(t, o.Close())
	o, err = openOutbox(t, srv.ClientURL(), "OUTBOX_grow", outbox.Options{MaxMessages: 5000, MaxBytes: 1 << 20})
	require.NoError(t, err)
	defer o.Close()
	nc, err := nats.Connect(srv.ClientURL())
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	st, err := js.Stream(context.Background(), "OUTBOX_grow")
	require.NoError(t, err)
	want := natsbus.OutboxStreamConfig(natsbus.OutboxConfig{Stream: "OUTBOX_grow"}, outbox.Options{MaxMessages: 5000, MaxBytes: 1 << 20, MaxDeadLetters: outbox.DefaultMaxDeadLetters})
	assert.Equal(t, want.MaxMsgs, st.CachedInfo().Config.MaxMsgs)
	assert.Equal(t, want.MaxBytes, st.CachedInfo().Config.MaxBytes)
}

// Close stops every goroutine the outbox started (the connection, the
// caller's, keeps its own).
func TestOutboxCloseLeaksNothing(t *testing.T) {
	srv := natstest.Run(t)
	nc, err := nats.Connect(srv.ClientURL())
	require.NoError(t, err)
	defer nc.Close()
	cfg := natsbus.OutboxConfig{Stream: "OUTBOX_leak"}
	o, err := natsbus.OpenOutbox(context.Background(), nc, cfg) // the server's goroutines of the stream, before the snapshot
	require.NoError(t, err)
	require.NoError(t, o.Close())
	before := leakcheck.Take()
	o, err = natsbus.OpenOutbox(context.Background(), nc, cfg)
	require.NoError(t, err)
	ms, err := o.AppendBatch(context.Background(), []outbox.Message{{Topic: "t/l", QoS: 1, Payload: []byte("x")}, {Topic: "t/l", QoS: 1, Payload: []byte("y")}})
	require.NoError(t, err)
	require.NoError(t, o.SetAttempts(ms[1].Seq, 1))
	_, err = o.Park(ms[1].Seq, "x")
	require.NoError(t, err)
	require.NoError(t, o.Remove(ms[0].Seq))
	require.NoError(t, o.Close())
	before.Check(t, wait, nil)
}
