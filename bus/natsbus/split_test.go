package natsbus_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/bus/natsbus"
	"github.com/iotd/iotd/bus/natsbus/natstest"
	"github.com/iotd/iotd/bus/natsconf"
	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/features/shadow"
	"github.com/iotd/iotd/hubsim"
	"github.com/iotd/iotd/internal/hubtest"
)

// wait bounds every wait for something asynchronous: a deadline against
// hangs, never a timing assertion.
const wait = 20 * time.Second

// natsBus opens a bus on the NATS server at url, as a process of its own
// would: its own connection, its own reply topic.
func natsBus(t *testing.T, cfg natsconf.Config) *bus.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	b, err := openBus(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// openBus opens a bus on NATS (bus.New with backend nats does this in a
// build with the iotd_nats tag).
func openBus(ctx context.Context, cfg natsconf.Config) (*bus.Bus, error) {
	ps, err := natsbus.Open(ctx, cfg, nil)
	if err != nil {
		return nil, err
	}
	return bus.NewRemote(bus.Config{}, nil, ps)
}

// waitMessage waits until hub logged a message from the device on topic
// with payload.
func waitMessage(t *testing.T, hub *hubsim.Hub, info *core.DeviceInfo, topic, payload string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		for _, r := range hub.Messages(info.ProductID, info.DeviceName) {
			if r.Topic == topic && r.Payload == payload && !r.Denied {
				return
			}
		}
		require.False(t, time.Now().After(deadline), "%q on %s did not reach the hub", payload, topic)
		time.Sleep(10 * time.Millisecond)
	}
}

// The split: iotd's uplink on one bus, the shadow feature on another (a
// process of its own in a real deployment), both on one NATS server. The
// shadow subscribes through the uplink (a request over NATS), reports,
// reads the document back; and a producer that is only a NATS client, with
// no iotd library, publishes to the uplink's subject and its message
// reaches the hub, the uplink's reply coming back on the subject it named.
func TestSplitOverNATS(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	info, err := hub.CreateDevice("PNATS00001", "dev1", false)
	require.NoError(t, err)
	srv := natstest.Run(t)
	cfg := natsconf.Config{URL: srv.ClientURL()}

	iotd := natsBus(t, cfg)
	hubtest.ConnectBus(t, hub, info, iotd)

	// The shadow module in "its own process".
	feat := natsBus(t, cfg)
	s, err := shadow.New(shadow.Config{}, feat, info.ProductID, info.DeviceName, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	defer func() {
		stop()
		assert.NoError(t, <-done)
	}()
	doc, err := s.Report(ctx, map[string]any{"temp": 21.5})
	require.NoError(t, err)
	assert.JSONEq(t, "21.5", string(doc.Reported["temp"]))
	view, err := hubsim.NewClient(hub.AdminURL()).Shadow(ctx, info.ProductID, info.DeviceName)
	require.NoError(t, err)
	assert.Equal(t, "21.5", string(view.Reported["temp"]))
	assert.Equal(t, doc.Version, view.Version)

	// A feature-side cloud publish through the uplink in the other bus.
	topic := info.ProductID + "/" + info.DeviceName + "/event"
	require.NoError(t, feat.CloudPublish(ctx, topic, []byte("from the feature process"), 1))
	waitMessage(t, hub, info, topic, "from the feature process")

	// A bare NATS client: headers are the request's metadata.
	nc, err := nats.Connect(srv.ClientURL())
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	replies := natsbus.Subject(natsconf.DefaultSubjectPrefix, "bus.reply.producer")
	rc, err := js.CreateConsumer(ctx, natsconf.DefaultStream, jetstream.ConsumerConfig{FilterSubject: replies, AckPolicy: jetstream.AckExplicitPolicy})
	require.NoError(t, err)
	for i := range 3 {
		m := nats.NewMsg(natsbus.Subject(natsconf.DefaultSubjectPrefix, bus.TopicUplinkPublish))
		m.Data = []byte("producer " + strconv.Itoa(i))
		m.Header.Set(bus.MetaTopic, topic)
		m.Header.Set(bus.MetaQoS, "1")
		m.Header.Set(bus.MetaReplyTo, "bus.reply.producer")
		m.Header.Set(bus.MetaCorrelationID, watermill.NewShortUUID())
		_, err := js.PublishMsg(ctx, m)
		require.NoError(t, err)
		rep, err := rc.Next(jetstream.FetchMaxWait(wait))
		require.NoError(t, err)
		require.NoError(t, rep.Ack())
		assert.Equal(t, m.Header.Get(bus.MetaCorrelationID), rep.Headers().Get(bus.MetaCorrelationID))
		assert.Equal(t, string(bus.Acknowledged), rep.Headers().Get(bus.MetaResult))
		waitMessage(t, hub, info, topic, "producer "+strconv.Itoa(i))
	}
	// The order of the producer's messages is kept to the hub.
	var got []string
	for _, r := range hub.Messages(info.ProductID, info.DeviceName) {
		if r.Topic == topic && r.Direction != "down" {
			got = append(got, r.Payload)
		}
	}
	assert.Equal(t, []string{"from the feature process", "producer 0", "producer 1", "producer 2"}, got)
}
