package feature

import (
	"regexp"
	"strings"
	"testing"
)

// A message that names a place names a line: "line N: ...".
var positioned = regexp.MustCompile(`^line \d+: `)

// FuzzDecodeConfig: any document decodes or fails with a message for a
// person, never a panic. Every part of a message that is about a key or a
// value starts with the line it is on; none leaks the decoder's prefix or
// the Go types DecodeConfig builds.
func FuzzDecodeConfig(f *testing.F) {
	for _, s := range []string{
		"",
		"device_info: d.json\nlog: {level: info}\nfeatures:\n  alpha: {interval: 1s, count: 2, hook: {command: [a, b]}}\n  beta: {enabled: true, url: u}\n",
		"features:\n  alpha:\n  gamma: {}\n",
		"bogus: 1\nfeatures: {nosuch: {}, shadow: {}, alpha: {x: 1}}\n",
		"features: [1, 2]\n",
		"- a\n- b\n",
		"x: &a {rrpc: {}}\nfeatures: *a\n",
		"features: {alpha: {count: many, interval: soon}}\n",
		"<<: {log: {level: x}}\n",
		"log: 3\nlog: 4\n",
		"a: *b\n",
		"{",
		"features:\n  alpha: [\n",
		"\x00",
	} {
		f.Add([]byte(s))
	}
	mods := testMods()
	f.Fuzz(func(t *testing.T, data []byte) {
		var b testBase
		secs, err := DecodeConfig(data, &b, mods)
		if err == nil {
			if len(secs) != len(mods) {
				t.Fatalf("%d sections for %d modules", len(secs), len(mods))
			}
			for _, m := range mods {
				if secs[m.Name] == nil {
					t.Fatalf("no section for %s", m.Name)
				}
				_ = secs[m.Name].Enabled()
				_ = secs[m.Name].Validate()
			}
			return
		}
		msg := err.Error()
		if msg == "" || strings.HasPrefix(msg, "yaml:") || strings.Contains(msg, "struct {") ||
			strings.Contains(msg, "not found in type") || strings.Contains(msg, " into feature.") {
			t.Fatalf("message %q", msg)
		}
		for _, part := range strings.Split(msg, "; ") {
			if (strings.Contains(part, "unknown key") || strings.Contains(part, "cannot unmarshal") ||
				strings.Contains(part, "not in this build")) && !positioned.MatchString(part) {
				t.Fatalf("%q names no line, in %q", part, msg)
			}
		}
	})
}
