package attencent

import (
	"sync"

	"github.com/iotd/iotd/drivers/at"
)

// Receiving +TCMQTTRCVPUB:"<topic>",<len>,"<payload>" CR LF.
//
// The payload is raw between its quotes: quotes, commas, CR LF and "OK"
// inside it are not escaped, so it can only be delimited by <len>. The AT
// engine reads raw bytes after a URC line whose handler names a count, and
// ends a URC line early at a HeaderEnd byte. Two registrations use that:
// the first ends at the topic's closing quote and keeps the topic; the
// second, for the line that follows it at once (`,<len>,"`), ends at the
// payload's opening quote and claims <len> bytes plus the closing quote.
// The CR LF after it is an empty line, which the engine drops.
//
// Known limit (the firmware's): it writes the URC with strlen, so a
// payload with a NUL byte is cut there while <len> counts it whole; the
// count then claims bytes of the lines that follow. Such payloads cannot
// be received through this firmware (tencent.md §4).
type receiver struct {
	deliver func(topic string, payload []byte)
	bad     func(what string)

	mu    sync.Mutex // the engine calls from its reader goroutine; tests may not
	topic string     // set between the two parts of one URC
}

// urcs returns the engine registrations of the receiver.
func (r *receiver) urcs() []at.URC {
	var us []at.URC
	for _, p := range rcvPrefixes {
		us = append(us, at.URC{Prefix: p, HeaderEnd: '"', Line: r.header})
	}
	return append(us, at.URC{Prefix: ",", HeaderEnd: '"', Line: r.length, Data: r.data})
}

func (r *receiver) header(line string) int {
	topic, ok := parseRcvTopic(line)
	r.mu.Lock()
	r.topic = topic
	r.mu.Unlock()
	if !ok {
		r.bad("a +TCMQTTRCVPUB whose topic cannot be read")
	}
	return 0
}

func (r *receiver) length(line string) int {
	r.mu.Lock()
	topic := r.topic
	r.mu.Unlock()
	if topic == "" {
		return 0 // a line starting with ',' that follows no header
	}
	n, ok := parseRcvLen(line, at.MaxRaw-1)
	if !ok {
		r.mu.Lock()
		r.topic = ""
		r.mu.Unlock()
		r.bad("a +TCMQTTRCVPUB whose length cannot be read")
		return 0
	}
	return n + 1 // and the closing quote
}

func (r *receiver) data(_ string, b []byte) {
	r.mu.Lock()
	topic := r.topic
	r.topic = ""
	r.mu.Unlock()
	n := len(b) - 1
	if n < 0 || b[n] != '"' {
		r.bad("a +TCMQTTRCVPUB payload not followed by its closing quote (a NUL byte in it?)")
		return
	}
	r.deliver(topic, b[:n])
}
