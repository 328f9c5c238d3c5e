package feature

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// DecodeConfig decodes the YAML document data strictly into base, a
// pointer to the daemon's own configuration struct (whose features field,
// if any, is tagged `yaml:"-"`), and the `features:` map into the sections
// of mods, by name. Every key must be known: an unknown one, at any depth,
// is an error naming it and its line (see [YAMLError]). A module the file
// does not mention gets its empty section, its default. The sections are
// not validated here; see [ValidateSections]. A section of a built-in
// feature that mods lacks (left out of this build, see [BuiltIn]) is an
// error saying so, with the build tag that left it out.
func DecodeConfig(data []byte, base any, mods []Module) (map[string]Section, error) {
	return DecodeConfigAt(data, nil, base, mods)
}

// DecodeConfigAt is [DecodeConfig] of the mapping at path in data (the
// keys from the top, e.g. devices, b): base and its features: are that
// mapping's keys, decoded as strictly, with errors naming the lines of
// data. The other keys along the path (a sibling device's section, the
// daemon's own keys) are left undecoded: the caller decodes them.
func DecodeConfigAt(data []byte, path []string, base any, mods []Module) (map[string]Section, error) {
	bv := reflect.ValueOf(base)
	if bv.Kind() != reflect.Pointer || bv.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("feature: DecodeConfig: base is %T, not a pointer to a struct", base)
	}
	secs := make(map[string]Section, len(mods))
	fields := make([]reflect.StructField, len(mods))
	for i, m := range mods {
		secs[m.Name] = m.Config()
		fields[i] = reflect.StructField{
			Name: fmt.Sprintf("F%d", i),
			Type: reflect.TypeOf(secs[m.Name]),
			Tag:  reflect.StructTag(`yaml:"` + m.Name + `"`),
		}
	}
	featuresT := reflect.StructOf(fields)
	wrapT := reflect.StructOf([]reflect.StructField{
		{Name: "Base", Type: bv.Elem().Type(), Tag: `yaml:",inline"`},
		{Name: "Features", Type: featuresT, Tag: `yaml:"features"`},
	})
	w := reflect.New(wrapT).Elem()
	w.Field(0).Set(bv.Elem())
	for i, m := range mods {
		w.Field(1).Field(i).Set(reflect.ValueOf(secs[m.Name]))
	}
	// Along the path, each level is the next key's mapping beside the
	// others, which an inline map takes as they are.
	outer := w
	for i := len(path) - 1; i >= 0; i-- {
		t := reflect.StructOf([]reflect.StructField{
			{Name: "Rest", Type: reflect.TypeFor[map[string]yaml.Node](), Tag: `yaml:",inline"`},
			{Name: "At", Type: outer.Type(), Tag: reflect.StructTag(`yaml:"` + path[i] + `"`)},
		})
		o := reflect.New(t).Elem()
		o.Field(1).Set(outer)
		outer = o
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	out := reflect.New(outer.Type())
	out.Elem().Set(outer)
	if err := dec.Decode(out.Interface()); err != nil && !errors.Is(err, io.EOF) {
		types := map[string]string{bv.Elem().Type().String(): "a mapping (the configuration)"}
		for _, m := range mods {
			t := reflect.TypeOf(secs[m.Name])
			if t.Kind() == reflect.Pointer {
				t = t.Elem()
			}
			if _, taken := types[t.String()]; !taken {
				types[t.String()] = "a mapping (features." + m.Name + ")"
			}
		}
		return nil, errors.New(leftOut(data, path, mods, yamlMessage(err, types)))
	}
	w = out.Elem()
	for range path {
		w = w.Field(1)
	}
	bv.Elem().Set(w.Field(0))
	for i, m := range mods {
		// A key with no value ("shadow:") decodes to nil: the default.
		if s, ok := w.Field(1).Field(i).Interface().(Section); ok && !isNil(s) {
			secs[m.Name] = s
		} else {
			secs[m.Name] = m.Config()
		}
	}
	return secs, nil
}

// isNil reports whether s holds a nil pointer (or map, ...).
func isNil(s Section) bool {
	v := reflect.ValueOf(s)
	switch v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface, reflect.Func, reflect.Chan:
		return v.IsNil()
	}
	return false
}

// ValidateSections validates each section, in the order of mods; the
// error names the section ("features.shadow: ...") as field.
func ValidateSections(mods []Module, secs map[string]Section) (field string, err error) {
	for _, m := range mods {
		if s := secs[m.Name]; s != nil {
			if err := s.Validate(); err != nil {
				return "features." + m.Name, err
			}
		}
	}
	return "", nil
}

var (
	yamlUnknown   = regexp.MustCompile(`(?s)line (\d+): field (.*?) not found in type [^\n]*`)
	yamlAnonymous = regexp.MustCompile(` into struct \{[^\n]*`)
)

// YAMLError turns an error of a strict YAML decoder into a message for a
// person: `line 12: unknown key "x"` instead of the decoder's "field x not
// found in type ...", "into a mapping" instead of an anonymous struct's Go
// type, several errors joined with "; ", without the library's "yaml: "
// prefix.
func YAMLError(err error) string { return yamlMessage(err, nil) }

// yamlMessage is YAMLError that also names the Go types in types (type →
// what it is to a person) in "cannot unmarshal ... into TYPE".
func yamlMessage(err error, types map[string]string) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "yaml: unmarshal errors:\n  ")
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg = yamlUnknown.ReplaceAllStringFunc(msg, func(m string) string {
		sub := yamlUnknown.FindStringSubmatch(m)
		return fmt.Sprintf("line %s: unknown key %q", sub[1], sub[2])
	})
	msg = yamlAnonymous.ReplaceAllString(msg, " into a mapping")
	lines := strings.Split(msg, "\n  ")
	for i, l := range lines {
		for typ, name := range types {
			if rest, ok := strings.CutSuffix(l, " into "+typ); ok {
				lines[i] = rest + " into " + name
			}
		}
	}
	return strings.Join(lines, "; ")
}

// leftOut rewrites, in msg (a YAMLError of data), each `line N: unknown
// key "x"` whose key is a section under features: naming a built-in
// feature that mods lacks: the feature was left out of this build, which
// is what the message then says.
func leftOut(data []byte, path []string, mods []Module, msg string) string {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return msg
	}
	root := deref(doc.Content[0])
	for _, key := range path {
		if root.Kind != yaml.MappingNode {
			return msg
		}
		var next *yaml.Node
		for i := 0; i+1 < len(root.Content); i += 2 {
			if root.Content[i].Value == key {
				next = deref(root.Content[i+1])
			}
		}
		if next == nil {
			return msg
		}
		root = next
	}
	if root.Kind != yaml.MappingNode {
		return msg
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		fs := deref(root.Content[i+1])
		if root.Content[i].Value != "features" || fs.Kind != yaml.MappingNode {
			continue
		}
		for j := 0; j < len(fs.Content); j += 2 {
			k := fs.Content[j]
			tag, builtin := OmitTag(k.Value)
			if !builtin || slices.ContainsFunc(mods, func(m Module) bool { return m.Name == k.Value }) {
				continue
			}
			unknown := fmt.Sprintf("line %d: unknown key %q", k.Line, k.Value)
			msg = strings.Replace(msg, unknown, fmt.Sprintf(
				"line %d: feature %q is not in this build (it was left out with -tags %s); remove the section or use a build with it",
				k.Line, k.Value, tag), 1)
		}
	}
	return msg
}

// deref follows an alias to the node it names.
func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}
