package natsbus_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/bus/natsbus"
	"github.com/iotd/iotd/bus/natsbus/natstest"
	"github.com/iotd/iotd/bus/outbox"
)

// outboxChildEnv makes the test binary, started by
// TestJetStreamOutboxSurvivesSIGKILL, a process that appends to an outbox
// until it is killed: NATS URL and stream.
const outboxChildEnv = "IOTD_NATSBUS_OUTBOX_CHILD"

// outboxProcess appends batches of three to the outbox, removes the first
// of each (its PUBACK), and prints "acked" and the payloads of the others
// once the batch is stored, until it is killed.
func outboxProcess(args []string) int {
	nc, err := nats.Connect(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	o, err := natsbus.OpenOutbox(context.Background(), nc, natsbus.OutboxConfig{Stream: args[1]})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for b := 0; ; b++ {
		msgs := make([]outbox.Message, 3)
		for i := range msgs {
			msgs[i] = outbox.Message{Topic: "t/k", QoS: 1, Payload: []byte(strconv.Itoa(3*b + i))}
		}
		metas, err := o.AppendBatch(context.Background(), msgs)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		_ = o.Remove(metas[0].Seq)
		fmt.Printf("acked %s %s\n", msgs[1].Payload, msgs[2].Payload)
	}
}

// TestJetStreamOutboxSurvivesSIGKILL: a process appending to the outbox is
// killed (SIGKILL) mid-stream; the outbox opened again holds every message
// it was told was stored and not removed, in order, and can be drained.
func TestJetStreamOutboxSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	srv := natstest.Run(t)
	const stream = "OUTBOX_killed"
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), outboxChildEnv+"="+srv.ClientURL()+" "+stream)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	var acked []string
	lines := bufio.NewScanner(out)
	for len(acked) < 200 && lines.Scan() {
		f := strings.Fields(lines.Text())
		require.Equal(t, "acked", f[0])
		acked = append(acked, f[1:]...)
	}
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	require.GreaterOrEqual(t, len(acked), 200, "the child stopped early")

	o, err := openOutbox(t, srv.ClientURL(), stream, outbox.Options{})
	require.NoError(t, err)
	var got []int
	for _, m := range o.Pending() {
		p, err := o.Payload(m.Seq)
		require.NoError(t, err)
		n, _ := strconv.Atoi(string(p))
		got = append(got, n)
	}
	for _, a := range acked {
		n, _ := strconv.Atoi(a)
		assert.Contains(t, got, n, "message %d, reported stored, was lost", n)
	}
	for i := 1; i < len(got); i++ {
		require.Less(t, got[i-1], got[i], "pending in order")
	}
	var seqs []uint64
	for _, m := range o.Pending() {
		seqs = append(seqs, m.Seq)
	}
	require.NoError(t, o.Remove(seqs...))
	require.NoError(t, o.Close())
	o, err = openOutbox(t, srv.ClientURL(), stream, outbox.Options{})
	require.NoError(t, err)
	assert.Empty(t, o.Pending(), "drained")
	t.Logf("%d reported stored before the kill; %d pending after it (removals the kill cut short come back: at least once)", len(acked), len(got))
}
