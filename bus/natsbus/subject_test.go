package natsbus_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/bus/natsbus"
)

func TestSubject(t *testing.T) {
	for topic, subject := range map[string]string{
		bus.TopicUplinkPublish:          "iotd.uplink.publish",
		bus.TopicLinkState:              "iotd.link.state",
		"bus.reply.aB3-x_y":             "iotd.bus.reply.aB3-x_5Fy",
		bus.Downlink("$thing/down/P/D"): "iotd._dl._24thing.down.P.D",
		bus.Downlink("P/D/+/#"):         "iotd._dl.P.D._2B._23",
		bus.Downlink("a//b.c"):          "iotd._dl.a._.b_2Ec",
		bus.Downlink(""):                "iotd._dl._",
		"":                              "iotd._",
		"a..b":                          "iotd.a._.b",
		"x*>y z":                        "iotd.x_2A_3Ey_20z",
		"_dl":                           "iotd._5Fdl",
		"downlink.x":                    "iotd.downlink.x",
	} {
		assert.Equal(t, subject, natsbus.Subject("iotd", topic), "topic %q", topic)
		back, err := natsbus.Topic("iotd", subject)
		require.NoError(t, err, subject)
		assert.Equal(t, topic, back)
	}
	for _, bad := range []string{"iotd", "other.x", "iotd.", "iotd.a..b", "iotd._2b", "iotd._41", "iotd._4", "iotd._dl", "iotd.a_", "iotd.a*"} {
		_, err := natsbus.Topic("iotd", bad)
		assert.Error(t, err, bad)
	}
}

// The subject mapping knows the bus's downlink prefix without importing
// bus.
func TestDownlinkPrefix(t *testing.T) {
	assert.True(t, strings.HasPrefix(natsbus.Subject("p", bus.Downlink("a/b")), "p._dl."))
}

// FuzzSubject: every topic maps to a valid literal subject (tokens of
// letters, digits, '-' and '_' under the prefix, no wildcard) that maps
// back to it; every subject Topic accepts is the one its topic maps to.
func FuzzSubject(f *testing.F) {
	for _, s := range []string{"uplink.publish", "downlink:$thing/down/+/#", "", "a..b", "downlink:", "_dl", "\xff.\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		subject := natsbus.Subject("pre.fix", s)
		for i, tok := range strings.Split(subject, ".") {
			if tok == "" {
				t.Fatalf("empty token %d in %q", i, subject)
			}
			for _, c := range []byte(tok) {
				if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
					t.Fatalf("%q: byte %q in %q", s, c, subject)
				}
			}
		}
		back, err := natsbus.Topic("pre.fix", subject)
		if err != nil || back != s {
			t.Fatalf("%q -> %q -> %q, %v", s, subject, back, err)
		}
		// s read as a subject.
		if topic, err := natsbus.Topic("pre.fix", "pre.fix."+s); err == nil {
			if again := natsbus.Subject("pre.fix", topic); again != "pre.fix."+s {
				t.Fatalf("subject %q -> %q -> %q", "pre.fix."+s, topic, again)
			}
		}
	})
}
