package mqtt

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		filter, topic string
		want          bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/c", false},
		{"a/+", "a/b", true},
		{"a/+", "a/b/c", false},
		{"a/+", "a", false},
		{"a/+", "a/", true},
		{"a/+/c", "a/b/c", true},
		{"a/#", "a", true},
		{"a/#", "a/b/c", true},
		{"a/#", "ab", false},
		{"#", "a/b", true},
		{"#", "/", true},
		{"+/+", "/x", true},
		{"+", "a/b", false},
		{"#", "$sys/operation/result/p/d", false},
		{"+/operation/#", "$sys/operation", false},
		{"$sys/operation/result/+/+", "$sys/operation/result/p/d", true},
		{"$shadow/#", "$shadow/operation/result/p/d", true},
		{"a/b/c", "a/b", false},
		{"a/b", "a/b/c", false},
	}
	for _, tt := range tests {
		t.Run(tt.filter+" vs "+tt.topic, func(t *testing.T) {
			assert.Equal(t, tt.want, match(tt.filter, tt.topic))
		})
	}
}

func TestValidateFilterAndTopic(t *testing.T) {
	tests := []struct {
		name      string
		s         string
		topicErr  string // "" = valid topic
		filterErr string // "" = valid filter
	}{
		{name: "plain", s: "a/b"},
		{name: "system", s: "$sys/operation/p/d"},
		{name: "plus", s: "a/+/c", topicErr: "wildcard"},
		{name: "hash", s: "a/#", topicErr: "wildcard"},
		{name: "hash inside", s: "a/#/c", topicErr: "wildcard", filterErr: "last level"},
		{name: "partial plus", s: "a/b+", topicErr: "wildcard", filterErr: "whole level"},
		{name: "empty", s: "", topicErr: "empty", filterErr: "empty"},
		{name: "128 bytes", s: strings.Repeat("x", 128)},
		{name: "129 bytes", s: strings.Repeat("x", 129), topicErr: "limit is 128", filterErr: "limit is 128"},
		{name: "NUL", s: "a\x00b", topicErr: "NUL", filterErr: "NUL"},
		{name: "bad UTF-8", s: "a\xffb", topicErr: "UTF-8", filterErr: "UTF-8"},
	}
	check := func(t *testing.T, err error, want string) {
		if want == "" {
			assert.NoError(t, err)
		} else if assert.Error(t, err) {
			assert.Contains(t, err.Error(), want)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, validateTopic(tt.s), tt.topicErr)
			check(t, validateFilter(tt.s), tt.filterErr)
		})
	}
}

func TestParseQoS(t *testing.T) {
	for in, want := range map[string]byte{"": 0, "0": 0, "1": 1} {
		got, err := parseQoS(in)
		assert.NoError(t, err)
		assert.Equal(t, want, got)
	}
	_, err := parseQoS("2")
	assert.ErrorIs(t, err, errQoS2)
	_, err = parseQoS("01")
	assert.Error(t, err)
}

// FuzzMatch checks the matcher against properties that must hold for any
// valid filter and topic (both come from outside: the broker and the bus).
func FuzzMatch(f *testing.F) {
	for _, s := range [][2]string{{"a/+/c", "a/b/c"}, {"#", "$sys/x"}, {"a/#", "a"}, {"+/+", "/"}, {"", ""}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, filter, topic string) {
		fErr, tErr := validateFilter(filter), validateTopic(topic)
		got := match(filter, topic)
		if tErr != nil {
			return
		}
		// A topic is a valid filter that matches exactly itself.
		assert.True(t, match(topic, topic))
		if fErr != nil {
			return
		}
		if !strings.ContainsAny(filter, "+#") {
			assert.Equal(t, filter == topic, got)
		}
		if topic[0] != '$' {
			assert.True(t, match("#", topic))
		}
		if got && !strings.Contains(filter, "#") {
			assert.Equal(t, strings.Count(filter, "/"), strings.Count(topic, "/"), "+ matches exactly one level")
		}
	})
}
