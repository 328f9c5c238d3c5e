package shadow

import (
	"encoding/json"
	"fmt"
	"strings"
)

// ParseValues turns command-line key=value arguments into report values:
// a value that is valid JSON is used as is (42, true, null, {"a":1}),
// anything else as a string (encoded with proper escaping when sent).
func ParseValues(args []string) (map[string]any, error) {
	out := make(map[string]any, len(args))
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("shadow: %q: write key=value (a JSON value, or text taken as a string)", a)
		}
		if json.Valid([]byte(v)) {
			out[k] = json.RawMessage(v)
		} else {
			out[k] = v
		}
	}
	return out, nil
}
