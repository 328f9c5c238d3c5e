package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/hubsim"
	"github.com/iotd/iotd/internal/hubtest"
	"github.com/iotd/iotd/internal/testlog"
)

// The program against an in-process hubsim: a desired value set while it
// was not running is applied at start, one set while it runs is applied at
// once; each is reported and cleared from desired, and an unknown key is
// left there.
func TestShadowFollowsDesired(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	const pid, dn = "PEXSHADOW1", "lamp1"
	dir := hubtest.DeviceDir(t, hub, pid, dn, false)
	config := hubtest.WriteConfig(t, dir, "device_info: device_info.json\n"+hubtest.LinkYAML(hub.TLSAddr(), hub.CAFile()))
	admin := hubsim.NewClient(hub.AdminURL())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Before the program runs: the device gets it from its first read.
	_, err := admin.SetDesired(ctx, pid, dn, map[string]json.RawMessage{"led": json.RawMessage(`true`)}, false)
	require.NoError(t, err)

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var out testlog.Buffer
	done := make(chan error, 1)
	go func() { done <- run(runCtx, []string{"-config", config, "-interval", "5"}, &out) }()
	waitOutput(t, &out, "watching desired state")
	assert.Contains(t, out.String(), `reported {"interval":5,"led":false}`)
	assert.Contains(t, out.String(), `(get): led=true: applied, led false -> true`)

	// While it runs: the hub pushes the delta.
	_, err = admin.SetDesired(ctx, pid, dn, map[string]json.RawMessage{
		"interval": json.RawMessage(`10`), "color": json.RawMessage(`"red"`),
	}, false)
	require.NoError(t, err)
	var view hubsim.ShadowView
	require.Eventually(t, func() bool {
		view, err = admin.Shadow(ctx, pid, dn)
		return err == nil && string(view.Reported["interval"]) == `10` && view.Desired["interval"] == nil
	}, 20*time.Second, 20*time.Millisecond, "interval reported and cleared; output:\n%s", &out)
	waitOutput(t, &out, `confirmed {"interval":10}: reported and cleared from desired`)
	stop()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return within 10s of cancel")
	}

	assert.JSONEq(t, `true`, string(view.Reported["led"]))
	assert.NotContains(t, view.Desired, "led")
	assert.JSONEq(t, `"red"`, string(view.Desired["color"]), "the unknown key is left in desired")
	assert.NotContains(t, view.Reported, "color")
	s := out.String()
	assert.Contains(t, s, "device "+pid+"/"+dn+": following its shadow")
	assert.Contains(t, s, `confirmed {"led":true}: reported and cleared from desired`)
	assert.Contains(t, s, `(push): interval=10: applied, interval 5s -> 10s`)
	assert.Equal(t, 1, strings.Count(s, `color="red": unknown key; left in desired`),
		"the key left in desired is printed once, though every later delta repeats it:\n%s", s)
}

// A value the program cannot apply, or a key it does not know, is an error
// and changes no setting.
func TestShadowLeavesBadValues(t *testing.T) {
	var s Settings
	for key, value := range map[string]string{"interval": `"fast"`, "led": `"on"`, "color": `"red"`} {
		_, err := s.apply(key, json.RawMessage(value))
		assert.Error(t, err, key)
	}
	_, err := s.apply("interval", json.RawMessage(`0`))
	assert.ErrorContains(t, err, "out of range")
	_, err = s.apply("interval", json.RawMessage(`null`))
	assert.Error(t, err)
	assert.Equal(t, Settings{}, s)
	change, err := s.apply("interval", json.RawMessage(`60`))
	require.NoError(t, err)
	assert.Equal(t, "interval 0s -> 60s", change)
}

func TestBadFlagsAndConfig(t *testing.T) {
	var out bytes.Buffer
	assert.Error(t, run(context.Background(), []string{"-nosuch"}, &out))
	assert.Error(t, run(context.Background(), []string{"-interval", "0"}, &out))
	err := run(context.Background(), []string{"-config", t.TempDir() + "/missing.yaml"}, &out)
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "missing.yaml"), err.Error())
}

// A configuration that switches the shadow off fails before anything
// connects, naming the key.
func TestShadowOff(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	dir := hubtest.DeviceDir(t, hub, "PEXSHADOW2", "lamp1", false)
	config := hubtest.WriteConfig(t, dir, "device_info: device_info.json\n"+hubtest.LinkYAML(hub.TLSAddr(), hub.CAFile())+
		"features:\n  shadow:\n    disabled: true\n")
	var out bytes.Buffer
	err := run(context.Background(), []string{"-config", config}, &out)
	assert.ErrorContains(t, err, "features.shadow.disabled")
	assert.Empty(t, hub.Messages("PEXSHADOW2", "lamp1"))
}

func waitOutput(t *testing.T, out *testlog.Buffer, want string) {
	t.Helper()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), want) },
		20*time.Second, 20*time.Millisecond, "%q in the output:\n%s", want, out)
}
