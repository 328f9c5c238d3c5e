package atsim

import (
	"errors"
	"strconv"
	"strings"
)

// Kinds of an AT command, from its syntax.
const (
	kindExec = iota // AT+CMD or a basic command (ATE0)
	kindRead        // AT+CMD?
	kindTest        // AT+CMD=?
	kindSet         // AT+CMD=args
)

// command is one command of a command line.
type command struct {
	// name is the upper-case command name: "+QIOPEN", "E", "I", "&F", or
	// "" for a bare "AT".
	name string
	kind int
	// num is the number after a basic command ("E0" → 0); -1 if none.
	num  int
	args []arg
}

// arg is one parameter of a set command.
type arg struct {
	s      string
	quoted bool
}

// str returns argument i as a string, "" when absent.
func (c *command) str(i int) string {
	if i < len(c.args) {
		return c.args[i].s
	}
	return ""
}

// has reports whether argument i is present and not empty.
func (c *command) has(i int) bool { return i < len(c.args) && (c.args[i].s != "" || c.args[i].quoted) }

// int returns argument i as a number; ok is false when it is absent or
// not a number.
func (c *command) int(i int) (int, bool) {
	if i >= len(c.args) || c.args[i].quoted {
		return 0, false
	}
	n, err := strconv.Atoi(c.args[i].s)
	if err != nil {
		return 0, false
	}
	return n, true
}

// intOr returns argument i as a number, or def when it is absent; ok is
// false when it is present but not a number.
func (c *command) intOr(i, def int) (int, bool) {
	if !c.has(i) {
		return def, true
	}
	return c.int(i)
}

// Errors of parseLine.
var (
	errNoAT      = errors.New("atsim: line does not start with AT")
	errSyntax    = errors.New("atsim: command syntax error")
	errTooLong   = errors.New("atsim: command line too long")
	errUnclosedQ = errors.New("atsim: unterminated string")
)

// maxLineLen bounds a command line. Real modules take 256 (ESP-AT) to a few
// thousand bytes; longer lines are an error, not a memory hazard.
const maxLineLen = 4096

// parseLine parses a command line as the module received it (without its
// CR). Anything before the first "AT" is ignored, as a module ignores line
// noise. escapes enables ESP-AT's backslash escapes inside quoted strings.
// Several commands may be chained with ';' (V.250): "AT+CMEE=1;+CREG=2",
// and basic commands may follow each other: "ATE0V1".
func parseLine(line string, escapes bool) ([]command, error) {
	if len(line) > maxLineLen {
		return nil, errTooLong
	}
	i := indexAT(line)
	if i < 0 {
		return nil, errNoAT
	}
	rest := line[i+2:]
	var cmds []command
	if strings.TrimSpace(rest) == "" {
		return []command{{name: "", num: -1}}, nil
	}
	for rest != "" {
		var c command
		var err error
		switch rest[0] {
		case ';', ' ':
			rest = rest[1:]
			continue
		case '+', '$', '%', '#', '^':
			c, rest, err = parseExtended(rest, escapes)
		default:
			c, rest, err = parseBasic(rest)
		}
		if err != nil {
			return nil, err
		}
		cmds = append(cmds, c)
	}
	if len(cmds) == 0 { // "AT;"
		cmds = []command{{name: "", num: -1}}
	}
	return cmds, nil
}

// indexAT finds "AT" in any case, byte-wise (strings.ToUpper would change
// the length of invalid UTF-8).
func indexAT(s string) int {
	for i := 0; i+1 < len(s); i++ {
		if (s[i] == 'A' || s[i] == 'a') && (s[i+1] == 'T' || s[i+1] == 't') {
			return i
		}
	}
	return -1
}

// parseExtended parses "+NAME[?|=?|=args]" up to a ';' outside quotes.
func parseExtended(s string, escapes bool) (command, string, error) {
	j := 1
	for j < len(s) && isNameByte(s[j]) {
		j++
	}
	if j == 1 {
		return command{}, "", errSyntax
	}
	c := command{name: strings.ToUpper(s[:j]), num: -1}
	s = s[j:]
	switch {
	case s == "" || s[0] == ';':
		c.kind = kindExec
		return c, s, nil
	case s[0] == '?':
		c.kind = kindRead
		return c, s[1:], nil
	case strings.HasPrefix(s, "=?"):
		c.kind = kindTest
		return c, s[2:], nil
	case s[0] == '=':
		c.kind = kindSet
		args, rest, err := parseArgs(s[1:], escapes)
		c.args = args
		return c, rest, err
	}
	return command{}, "", errSyntax
}

func isNameByte(b byte) bool {
	return b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '_' || b == '-'
}

// parseArgs splits "1,\"a,b\",,3" into arguments, up to a ';' outside
// quotes, and returns the rest after it.
func parseArgs(s string, escapes bool) ([]arg, string, error) {
	var args []arg
	var cur strings.Builder
	quoted := false
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch b {
		case '"':
			if quoted || strings.TrimSpace(cur.String()) != "" {
				return nil, "", errSyntax
			}
			cur.Reset()
			k := i + 1
			for ; k < len(s); k++ {
				if escapes && s[k] == '\\' && k+1 < len(s) {
					k++
					cur.WriteByte(s[k])
					continue
				}
				if s[k] == '"' {
					break
				}
				cur.WriteByte(s[k])
			}
			if k >= len(s) {
				return nil, "", errUnclosedQ
			}
			quoted = true
			i = k
		case ',':
			args = append(args, finishArg(cur.String(), quoted))
			cur.Reset()
			quoted = false
		case ';':
			args = append(args, finishArg(cur.String(), quoted))
			return args, s[i+1:], nil
		default:
			if quoted && b != ' ' {
				return nil, "", errSyntax
			}
			if !quoted {
				cur.WriteByte(b)
			}
		}
	}
	args = append(args, finishArg(cur.String(), quoted))
	return args, "", nil
}

func finishArg(s string, quoted bool) arg {
	if quoted {
		return arg{s: s, quoted: true}
	}
	return arg{s: strings.TrimSpace(s)}
}

// parseBasic parses one basic command: a letter (or '&' and a letter, or
// "S<n>=<v>" / "S<n>?") and an optional number.
func parseBasic(s string) (command, string, error) {
	name := ""
	switch {
	case s[0] == '&' && len(s) > 1 && isLetter(s[1]):
		name, s = "&"+strings.ToUpper(s[1:2]), s[2:]
	case isLetter(s[0]):
		name, s = strings.ToUpper(s[:1]), s[1:]
	default:
		return command{}, "", errSyntax
	}
	c := command{name: name, num: -1}
	j := 0
	for j < len(s) && s[j] >= '0' && s[j] <= '9' && j < 9 {
		j++
	}
	if j > 0 {
		c.num, _ = strconv.Atoi(s[:j])
		s = s[j:]
	}
	if name == "S" {
		switch {
		case strings.HasPrefix(s, "?"):
			c.kind, s = kindRead, s[1:]
		case strings.HasPrefix(s, "="):
			k := 1
			for k < len(s) && s[k] >= '0' && s[k] <= '9' {
				k++
			}
			c.kind, c.args, s = kindSet, []arg{{s: s[1:k]}}, s[k:]
		}
	}
	return c, s, nil
}

func isLetter(b byte) bool { return b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' }
