package hubsim

import (
	"context"
	"encoding/json"
	"net/http"
)

// Logs returns the log lines device pid/dn uploaded, oldest first.
func (c *Client) Logs(ctx context.Context, pid, dn string) ([]LogLine, error) {
	var v []LogLine
	return v, c.do(ctx, http.MethodGet, devicePath(pid, dn)+"/logs", nil, &v)
}

// SetLogLevel sets a device's upload level (0 to 4) and pushes it on
// $log/operation/result/{pid}/{dn}.
func (c *Client) SetLogLevel(ctx context.Context, pid, dn string, level int) error {
	body, _ := json.Marshal(LogLevelRequest{Level: level})
	return c.do(ctx, http.MethodPut, devicePath(pid, dn)+"/loglevel", body, nil)
}
