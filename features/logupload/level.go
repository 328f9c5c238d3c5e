package logupload

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/core/linkstate"
)

// ParseLevel finds the integer log_level (0 to 4) in a message of the
// $log/operation/result topic.
func ParseLevel(payload []byte) (int, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(payload, &m); err != nil {
		return 0, fmt.Errorf("logupload: log level message is not a JSON object")
	}
	raw, ok := m["log_level"]
	if !ok {
		return 0, fmt.Errorf("logupload: log level message has no log_level")
	}
	n, err := strconv.Atoi(string(raw))
	if err != nil || n < 0 || n > 4 {
		return 0, fmt.Errorf("logupload: log_level %s: expected an integer from 0 to 4", snippet(raw))
	}
	return n, nil
}

// OperationTopic and ResultTopic are the log level topics of a device.
func OperationTopic(pid, dn string) string { return "$log/operation/" + pid + "/" + dn }

// ResultTopic is where the hub answers and pushes levels.
func ResultTopic(pid, dn string) string { return "$log/operation/result/" + pid + "/" + dn }

// followLevel asks the hub for the level at start and after every
// reconnect, and applies every level it sends.
func (u *Uploader) followLevel(ctx context.Context) {
	links, err := u.bus.Subscribe(ctx, bus.TopicLinkState)
	if err != nil {
		u.log.Warn("log level: cannot follow the link state", "err", err)
		return
	}
	results, err := u.bus.CloudSubscribeWait(ctx, ResultTopic(u.pid, u.dn), 0)
	if err != nil {
		return // ctx ended
	}
	u.requestLevel(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-links:
			if !ok {
				return
			}
			m.Ack()
			u.onLink(ctx, m)
		case m, ok := <-results:
			if !ok {
				return
			}
			m.Ack()
			n, err := ParseLevel(m.Payload)
			if err != nil {
				u.log.Debug("log level message ignored", "reason", err)
				continue
			}
			u.levelUpdates.Add(1)
			if old := u.level.Swap(int64(n)); old != int64(n) {
				u.log.Info("log upload level set by the hub", "level", n)
			}
		}
	}
}

func (u *Uploader) onLink(ctx context.Context, m *message.Message) {
	st, err := bus.DecodeLinkState(m)
	if err != nil {
		return
	}
	switch {
	case st.State == linkstate.Connected:
		u.requestLevel(ctx)
	case st.Err != "" && (st.State == linkstate.Disconnected || st.State == linkstate.Connecting):
		u.commErr.Store(true)
	}
}

func (u *Uploader) requestLevel(ctx context.Context) {
	n := u.token.Add(1)
	req := levelRequest(u.pid, n)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := u.bus.CloudPublish(pctx, OperationTopic(u.pid, u.dn), req, 0); err != nil && ctx.Err() == nil {
		u.log.Debug("log level request not sent; the next connect asks again", "err", err)
	}
}

// levelRequest is the get_log_level request with client token {pid}-{n},
// the C SDK's text byte for byte (sdk_src/services/log/log_mqtt.c). A
// valid product id (letters, digits, '_', '-') needs no JSON escaping.
func levelRequest(pid string, n int64) []byte {
	return []byte(`{"type": "get_log_level", "clientToken": "` + pid + "-" + strconv.FormatInt(n, 10) + `"}`)
}
