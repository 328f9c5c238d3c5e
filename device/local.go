package device

import (
	"errors"
	"net/http"

	mqttup "github.com/iotd/iotd/bus/mqtt"
	"github.com/iotd/iotd/bus/outbox"
	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/feature"
	"github.com/iotd/iotd/localapi"
)

// What a program that serves the device to others (the daemon's local API)
// needs of it beyond Publish and Subscribe: the features' routes, the dead
// letters, the link for a dial of its own.

// Routes mounts the local API routes of the device's features (each
// feature that is a feature.Router) on mux: /v1/shadow/..., /v1/ota/...,
// and so on, as package localapi names them. The daemon serves them on its
// Unix socket; a program may serve them where it likes.
func (d *Device) Routes(mux *http.ServeMux) {
	for _, f := range d.features {
		if r, ok := f.Feature.(feature.Router); ok {
			r.Routes(mux)
		}
	}
}

// Link returns the device's link, for a dial of one's own through the
// same driver (the daemon's first-contact walk); nil on channel
// at-tencent, whose module is the link.
func (d *Device) Link() *core.Link { return d.link }

// Errors of the dead letters.
var (
	// ErrNoOutbox: the channel keeps no outbox or dead letters (coap,
	// at-tencent).
	ErrNoOutbox = errors.New("outbox: the CoAP channel keeps no outbox or dead letters")
	// ErrNoDeadLetter: no dead letter has that id.
	ErrNoDeadLetter = mqttup.ErrNoDeadLetter
	// ErrOutboxFull: the outbox has no room to take a dead letter back.
	ErrOutboxFull = outbox.ErrFull
)

// DeadLetters lists the messages parked after ending too many sessions
// (mqtt.dead_letter_after), with the use of the memory queue and of the
// outbox; ErrNoOutbox on a channel without them.
func (d *Device) DeadLetters() (localapi.OutboxList, error) {
	u := d.mqtt
	if u == nil {
		return localapi.OutboxList{}, ErrNoOutbox
	}
	dead, err := u.DeadLetters()
	if err != nil {
		return localapi.OutboxList{}, err
	}
	st := u.Status()
	out := localapi.OutboxList{Outbox: boundToWire(st.Outbox), Memory: localapi.Bound(st.Memory), DeadLetters: make([]localapi.DeadLetter, len(dead))}
	for i, dl := range dead {
		out.DeadLetters[i] = localapi.DeadLetter(dl)
	}
	return out, nil
}

// RetryDeadLetter puts the dead letter id back in the queue, to be sent
// again; ErrNoDeadLetter when there is none, ErrOutboxFull when the outbox
// cannot take it.
func (d *Device) RetryDeadLetter(id string) error {
	if d.mqtt == nil {
		return ErrNoOutbox
	}
	return d.mqtt.RetryDeadLetter(id)
}

// DropDeadLetter deletes the dead letter id; ErrNoDeadLetter when there is
// none.
func (d *Device) DropDeadLetter(id string) error {
	if d.mqtt == nil {
		return ErrNoOutbox
	}
	return d.mqtt.DropDeadLetter(id)
}
