package natsbus_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/bus/natsbus/natstest"
	"github.com/iotd/iotd/bus/natsconf"
	"github.com/iotd/iotd/features/shadow"
	"github.com/iotd/iotd/hubsim"
	"github.com/iotd/iotd/internal/hubtest"
)

// childEnv makes the test binary, started by TestShadowInItsOwnProcess,
// the shadow module's process: NATS URL, product and device.
const childEnv = "IOTD_NATSBUS_SHADOW_CHILD"

func TestMain(m *testing.M) {
	if v := os.Getenv(childEnv); v != "" {
		os.Exit(shadowProcess(strings.Split(v, " ")))
	}
	if v := os.Getenv(outboxChildEnv); v != "" {
		os.Exit(outboxProcess(strings.Split(v, " ")))
	}
	os.Exit(m.Run())
}

// shadowProcess is what a shadow module in a process of its own runs: a
// bus on NATS, the shadow on it, one report; the document's version on
// stdout.
func shadowProcess(args []string) int {
	url, pid, dn, value := args[0], args[1], args[2], args[3]
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	b, err := openBus(ctx, natsconf.Config{URL: url})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer b.Close()
	s, err := shadow.New(shadow.Config{}, b, pid, dn, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	defer func() { stop(); <-done }()
	doc, err := s.Report(ctx, map[string]any{"from": value})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	_ = json.NewEncoder(os.Stdout).Encode(doc.Version)
	return 0
}

// The split with two OS processes: the uplink in this one (iotd's part),
// the shadow module in a child process; both on one NATS server. The
// child's report reaches the hub's shadow.
func TestShadowInItsOwnProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	hub := hubtest.StartHub(t, nil)
	info, err := hub.CreateDevice("PNATS00002", "dev1", false)
	require.NoError(t, err)
	srv := natstest.Run(t)
	hubtest.ConnectBus(t, hub, info, natsBus(t, natsconf.Config{URL: srv.ClientURL()}))

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+strings.Join([]string{srv.ClientURL(), info.ProductID, info.DeviceName, "child"}, " "))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	require.NoError(t, err)
	var version int64
	require.NoError(t, json.Unmarshal(out, &version))
	view, err := hubsim.NewClient(hub.AdminURL()).Shadow(ctx, info.ProductID, info.DeviceName)
	require.NoError(t, err)
	assert.Equal(t, `"child"`, string(view.Reported["from"]))
	assert.Equal(t, version, view.Version)
}
