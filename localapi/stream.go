package localapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"net/http"
)

// Streams are NDJSON: one JSON value per line, each line flushed as it is
// written, until the client goes away or the daemon stops. An empty line is
// a keep-alive, skipped.

// maxStreamLine bounds a stream's line: a message's payload is at most
// MaxRequestBody, base64 makes it 4/3 larger, and its JSON escapes.
const maxStreamLine = 4 << 20

// stream runs GET path and yields each value of the NDJSON answer.
func stream[T any](ctx context.Context, c *Client, path string) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		resp, err := c.send(ctx, http.MethodGet, path, nil)
		if err != nil {
			if ctx.Err() == nil {
				yield(zero, err)
			}
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			yield(zero, decodeError(resp.StatusCode, resp.Body))
			return
		}
		stopped, err := readStream(resp.Body, func(v T) bool { return yield(v, nil) })
		switch {
		case stopped, ctx.Err() != nil:
		case err != nil:
			yield(zero, fmt.Errorf("iotd api: %w", err))
		default:
			yield(zero, ErrStreamClosed)
		}
	}
}

// readStream decodes the NDJSON stream in r, handing each value to yield,
// until r ends (nil), a line is not a T or too long (an error), or yield
// returns false (stopped).
func readStream[T any](r io.Reader, yield func(T) bool) (stopped bool, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxStreamLine)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue // a keep-alive (see PathPublishStream)
		}
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			return false, fmt.Errorf("bad stream line: %w", err)
		}
		if !yield(v) {
			return true, nil
		}
	}
	return false, sc.Err()
}

// Each runs fn on each value of a stream until the stream ends or fn
// returns an error, and returns the error that ended it: fn's, the
// stream's, or nil when the stream's context ended.
func Each[T any](seq iter.Seq2[T, error], fn func(T) error) error {
	for v, err := range seq {
		if err != nil {
			return err
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	return nil
}
