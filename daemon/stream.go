package daemon

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"unicode/utf8"
)

// streamJSON writes each value from ch as one JSON line, flushing after
// each, until ch closes or the client goes away (the request context ends,
// which closes ch for the feature subscriptions used here).
func streamJSON[T any](w http.ResponseWriter, ch <-chan T, conv func(T) any) {
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

// textOrBase64 returns b as text when it is valid UTF-8, else as base64 in
// the second result; JSON carries either without mangling binary payloads.
func textOrBase64(b []byte) (text, b64 string) {
	if utf8.Valid(b) {
		return string(b), ""
	}
	return "", base64.StdEncoding.EncodeToString(b)
}

// payloadOf decodes the payload of a request body that has the
// payload/payload_base64 pair.
func payloadOf(text, b64 string) ([]byte, error) {
	if b64 == "" {
		return []byte(text), nil
	}
	if text != "" {
		return nil, errBothPayloads
	}
	return base64.StdEncoding.DecodeString(b64)
}
