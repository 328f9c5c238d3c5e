package natsbus

import (
	"errors"
	"fmt"
	"strings"
)

// downlinkPrefix is the bus's prefix of downlink topics (bus.Downlink);
// natsbus does not import bus, and TestDownlinkPrefix keeps them equal.
const downlinkPrefix = "downlink:"

// downlinkToken marks a downlink subject. Escaping never produces it (an
// '_' is always followed by two upper-case hex digits, and 'l' is not
// one), so no other topic maps to a subject with it.
const downlinkToken = "_dl"

// Subject returns the NATS subject of the bus topic under prefix (see the
// package documentation for the mapping). It is reversed by [Topic].
func Subject(prefix, topic string) string {
	var b strings.Builder
	b.Grow(len(prefix) + 1 + len(topic) + len(topic)/2)
	b.WriteString(prefix)
	if filter, ok := strings.CutPrefix(topic, downlinkPrefix); ok {
		b.WriteString("." + downlinkToken)
		for level := range strings.SplitSeq(filter, "/") {
			b.WriteByte('.')
			escapeToken(&b, level)
		}
		return b.String()
	}
	for tok := range strings.SplitSeq(topic, ".") {
		b.WriteByte('.')
		escapeToken(&b, tok)
	}
	return b.String()
}

// Topic returns the bus topic of a subject made by [Subject] with prefix.
// It fails for any subject [Subject] does not make, so that
// Subject(prefix, t) == s for every s it accepts.
func Topic(prefix, subject string) (string, error) {
	rest, ok := strings.CutPrefix(subject, prefix+".")
	if !ok {
		return "", fmt.Errorf("natsbus: subject %q is not under %q", subject, prefix)
	}
	var b strings.Builder
	sep := byte('.')
	if r, ok := strings.CutPrefix(rest, downlinkToken+"."); ok {
		b.WriteString(downlinkPrefix)
		rest, sep = r, '/'
	}
	for i, tok := range strings.Split(rest, ".") {
		if i > 0 {
			b.WriteByte(sep)
		}
		if err := unescapeToken(&b, tok); err != nil {
			return "", fmt.Errorf("natsbus: subject %q: %w", subject, err)
		}
	}
	return b.String(), nil
}

// plain reports whether c stands for itself in a token.
func plain(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-'
}

const hexDigits = "0123456789ABCDEF"

// escapeToken writes tok as a subject token: letters, digits and '-' as
// they are, every other byte as '_' and two upper-case hex digits, and the
// empty token as a lone '_'.
func escapeToken(b *strings.Builder, tok string) {
	if tok == "" {
		b.WriteByte('_')
		return
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if plain(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('_')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
}

var errToken = errors.New("not an escaped token")

// unescapeToken reverses escapeToken, accepting only its output.
func unescapeToken(b *strings.Builder, tok string) error {
	switch tok {
	case "":
		return errToken
	case "_":
		return nil
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if plain(c) {
			b.WriteByte(c)
			continue
		}
		if c != '_' || i+2 >= len(tok) {
			return fmt.Errorf("%q: %w", tok, errToken)
		}
		hi, lo := strings.IndexByte(hexDigits, tok[i+1]), strings.IndexByte(hexDigits, tok[i+2])
		if hi < 0 || lo < 0 || plain(byte(hi<<4|lo)) {
			return fmt.Errorf("%q: %w", tok, errToken)
		}
		b.WriteByte(byte(hi<<4 | lo))
		i += 2
	}
	return nil
}
