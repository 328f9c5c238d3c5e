package localapi

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// The stream reader takes whatever the socket holds: it never panics,
// hands over one value per well-formed line in order (skipping empty ones), stops at the first
// bad line with an error, and stops at once when told to.
func FuzzReadStream(f *testing.F) {
	f.Add([]byte(`{"topic":"p/d/control","qos":1,"payload":"on","received_at":"2026-01-02T03:04:05Z"}` + "\n"))
	f.Add([]byte("{\"topic\":\"a\"}\n{\"topic\":\"b\",\"payload_base64\":\"AAE=\"}\n"))
	f.Add([]byte("{\"time\":\"2026-01-02T03:04:05.000Z\",\"port\":\"/dev/ttyUSB0\",\"out\":true,\"kind\":\"command\",\"text\":\"AT+CSQ\"}\n"))
	f.Add([]byte("not json\n"))
	f.Add([]byte("\n\n"))
	f.Add([]byte(`{"qos":"one"}`))
	f.Add([]byte("{\"topic\":\"x\"}\r\n{\"topic\""))
	f.Fuzz(func(t *testing.T, data []byte) {
		var got []Message
		_, err := readStream(bytes.NewReader(data), func(m Message) bool {
			got = append(got, m)
			return true
		})
		lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		if len(data) == 0 {
			lines = nil
		}
		// Empty lines are keep-alives, skipped.
		lines = slices.DeleteFunc(lines, func(l string) bool { return strings.TrimSpace(l) == "" })
		if len(got) > len(lines) {
			t.Fatalf("%d values from %d lines", len(got), len(lines))
		}
		for i, m := range got {
			var want Message
			if json.Unmarshal([]byte(strings.TrimSuffix(lines[i], "\r")), &want) != nil {
				if json.Unmarshal([]byte(lines[i]), &want) != nil {
					t.Fatalf("value %d from a line that is not a message: %q", i, lines[i])
				}
			}
			if m != want {
				t.Fatalf("value %d: got %+v, the line says %+v", i, m, want)
			}
		}
		if err == nil && len(got) != len(lines) {
			t.Fatalf("no error, but %d values from %d lines", len(got), len(lines))
		}
		n := 0
		stopped, _ := readStream(bytes.NewReader(data), func(Message) bool { n++; return false })
		if n > 1 || stopped != (n == 1) {
			t.Fatalf("after yield returned false: %d values, stopped %v", n, stopped)
		}
	})
}
