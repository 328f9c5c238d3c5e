package feature

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// The helpers every local API handler uses, the daemon's and the
// features': JSON answers, errors as {"error": "..."}, NDJSON streams and
// request bodies decoded strictly.

// WriteJSON answers v as JSON with status code.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError answers {"error": err} with status code.
func WriteError(w http.ResponseWriter, code int, err error) {
	WriteJSON(w, code, map[string]string{"error": err.Error()})
}

// DecodeBody decodes the request's JSON body into v, at most limit bytes,
// refusing unknown fields. On failure it has answered 400 with the error
// prefixed by what ("shadow report: bad request body: ...") and returns
// false.
func DecodeBody(w http.ResponseWriter, r *http.Request, limit int64, what string, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		WriteError(w, http.StatusBadRequest, fmt.Errorf("%s: bad request body: %w", what, err))
		return false
	}
	return true
}

// StreamJSON writes each value from ch, converted by conv, as one JSON
// line, flushing after each, until ch closes or the client goes away (the
// request's context ends, which closes the subscriptions streamed here).
func StreamJSON[T any](w http.ResponseWriter, ch <-chan T, conv func(T) any) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	flush := func() {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	flush()
	enc := json.NewEncoder(w)
	for v := range ch {
		if err := enc.Encode(conv(v)); err != nil {
			return
		}
		flush()
	}
}

// ErrBothPayloads: a request body set payload and payload_base64.
var ErrBothPayloads = errors.New("set payload or payload_base64, not both")

// Payload decodes the payload/payload_base64 pair of a request body.
func Payload(text, b64 string) ([]byte, error) {
	if b64 == "" {
		return []byte(text), nil
	}
	if text != "" {
		return nil, ErrBothPayloads
	}
	return base64.StdEncoding.DecodeString(b64)
}
