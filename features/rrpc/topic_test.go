package rrpc

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseRequestTopic(t *testing.T) {
	tests := []struct {
		name, topic string
		want        string
		wantErr     string
	}{
		{"numeric id", "$rrpc/rxd/P1/d1/41235", "41235", ""},
		{"16 chars", "$rrpc/rxd/P1/d1/0123456789abcdef", "0123456789abcdef", ""},
		{"empty id", "$rrpc/rxd/P1/d1/", "", "no process id"},
		{"no id level", "$rrpc/rxd/P1/d1", "", "not under"},
		{"17 chars", "$rrpc/rxd/P1/d1/0123456789abcdefg", "", "limit is 16"},
		{"extra level", "$rrpc/rxd/P1/d1/1/2", "", "levels after"},
		{"other device", "$rrpc/rxd/P1/d2/1", "", "not under"},
		{"reply topic", "$rrpc/txd/P1/d1/1", "", "not under"},
		{"wildcard", "$rrpc/rxd/P1/d1/+", "", "wildcard"},
		{"nul", "$rrpc/rxd/P1/d1/a\x00", "", "NUL"},
		{"bad utf-8", "$rrpc/rxd/P1/d1/\xff", "", "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRequestTopic(tt.topic, "P1", "d1")
			if tt.wantErr != "" {
				require.ErrorIs(t, err, ErrMalformedTopic)
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, "$rrpc/txd/P1/d1/"+tt.want, ReplyTopic("P1", "d1", got))
		})
	}
}

func FuzzParseRequestTopic(f *testing.F) {
	f.Add("$rrpc/rxd/P1/d1/41235")
	f.Add("$rrpc/rxd/P1/d1/")
	f.Add("$rrpc/rxd/P1/d1/a/b")
	f.Add("$rrpc/rxd/P1/d1/\xff#")
	f.Fuzz(func(t *testing.T, topic string) {
		id, err := ParseRequestTopic(topic, "P1", "d1")
		if err != nil {
			return
		}
		if id == "" || len(id) > MaxProcessIDLen || strings.ContainsAny(id, "/+#\x00") || !utf8.ValidString(id) {
			t.Fatalf("accepted unusable process id %q from %q", id, topic)
		}
		if topic != "$rrpc/rxd/P1/d1/"+id {
			t.Fatalf("id %q is not the last level of %q", id, topic)
		}
	})
}
