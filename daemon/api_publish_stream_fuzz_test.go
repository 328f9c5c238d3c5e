package daemon

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzPublishStreamLines splits arbitrary input into a stream's lines and
// decodes each: nothing panics, each line is numbered one more than the
// last, no line is longer than the limit or holds a newline, and a line
// that decodes has a payload and QoS the single publish would accept.
func FuzzPublishStreamLines(f *testing.F) {
	f.Add([]byte(`{"topic":"event","payload":"x","qos":1}` + "\n"))
	f.Add([]byte(`{"id":"a","topic":"t","payload_base64":"eA==","qos":0}` + "\r\n\n{\"topic\":\n"))
	f.Add([]byte(`{"topic":"t","payload":"x","timeout_ms":3}{"x":1}`))
	f.Add([]byte("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\nshort"))
	const limit = 32
	f.Fuzz(func(t *testing.T, data []byte) {
		lr := newLineReader(bytes.NewReader(data), limit)
		var last int64
		for {
			line, num, err := lr.next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil && !errors.Is(err, errLineTooLong) {
				t.Fatalf("line %d: %v", num, err)
			}
			if num != last+1 {
				t.Fatalf("line %d after line %d", num, last)
			}
			last = num
			if err != nil {
				continue
			}
			if len(line) > limit || bytes.IndexByte(line, '\n') >= 0 {
				t.Fatalf("line %d: %q", num, line)
			}
			req, _, err := decodeStreamLine(line)
			if err == nil && (req.QoS < 0 || req.QoS > 1 || req.Timeout != 0 || (req.Payload != "" && req.PayloadBase64 != "")) {
				t.Fatalf("line %d accepted: %+v", num, req)
			}
		}
		if want := int64(bytes.Count(data, []byte("\n"))); last != want && last != want+1 {
			t.Fatalf("%d lines for %d newlines", last, want)
		}
	})
}
