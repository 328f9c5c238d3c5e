package attencent

import "sync"

// What the module reports by itself (URCs), handed from the AT engine's
// reader goroutine, which must never block, to the session goroutine.

type eventKind int

const (
	evDiscon       eventKind = iota // +TCMQTTDISCON,<code>
	evReconnecting                  // +TCMQTTRECONNECTING
	evReconnected                   // +TCMQTTRECONNECTED
	evReboot                        // "ready": the module booted
	evWiFiLost                      // WIFI DISCONNECT
	evOTA                           // +TCOTASTATUS:<status>
)

type event struct {
	kind eventKind
	code int      // for evDiscon
	ota  OTAEvent // for evOTA
}

// events is an unbounded queue with a wake-up channel; the module sends
// few URCs, and none may be lost (a lost reboot would leave the session
// waiting on a module that forgot it).
type events struct {
	mu   sync.Mutex
	q    []event
	wake chan struct{} // capacity 1
}

func newEvents() *events { return &events{wake: make(chan struct{}, 1)} }

func (e *events) push(ev event) {
	e.mu.Lock()
	e.q = append(e.q, ev)
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// has reports whether an event of kind k waits.
func (e *events) has(k eventKind) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range e.q {
		if ev.kind == k {
			return true
		}
	}
	return false
}

// take returns the queued events, oldest first, and empties the queue.
func (e *events) take() []event {
	e.mu.Lock()
	defer e.mu.Unlock()
	q := e.q
	e.q = nil
	return q
}
