package shadow

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseValues(t *testing.T) {
	tests := []struct {
		name, arg, wantJSON string
	}{
		{"integer", "n=42", `{"n":42}`},
		{"bool", "b=true", `{"b":true}`},
		{"object", `o={"a":[1,2]}`, `{"o":{"a":[1,2]}}`},
		{"null removes", "z=null", `{"z":null}`},
		{"text", "s=hello world", `{"s":"hello world"}`},
		{"text with quotes", `q=say "hi" \ bye`, `{"q":"say \"hi\" \\ bye"}`},
		{"empty", "e=", `{"e":""}`},
		{"equals in value", "k=a=b", `{"k":"a=b"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseValues([]string{tt.arg})
			require.NoError(t, err)
			b, err := json.Marshal(got)
			require.NoError(t, err)
			assert.JSONEq(t, tt.wantJSON, string(b))
		})
	}
	for _, bad := range []string{"novalue", "=1"} {
		_, err := ParseValues([]string{bad})
		assert.ErrorContains(t, err, "key=value", bad)
	}
}
