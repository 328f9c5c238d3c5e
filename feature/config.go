package feature

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// DecodeConfig decodes the YAML document data strictly into base, a
// pointer to the daemon's own configuration struct (whose features field,
// if any, is tagged `yaml:"-"`), and the `features:` map into the sections
// of mods, by name. Every key must be known: an unknown one, at any depth,
// is an error naming it and its line (see [YAMLError]). A module the file
// does not mention gets its empty section, its default. The sections are
// not validated here; see [ValidateSections].
func DecodeConfig(data []byte, base any, mods []Module) (map[string]Section, error) {
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
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(w.Addr().Interface()); err != nil && !errors.Is(err, io.EOF) {
		return nil, errors.New(YAMLError(err))
	}
	bv.Elem().Set(w.Field(0))
	for i, m := range mods {
		// A key with no value ("shadow:") decodes to nil: the default.
		if s, ok := w.Field(1).Field(i).Interface().(Section); ok && !reflect.ValueOf(s).IsNil() {
			secs[m.Name] = s
		} else {
			secs[m.Name] = m.Config()
		}
	}
	return secs, nil
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

var yamlUnknown = regexp.MustCompile(`line (\d+): field (\S+) not found in type [^\n]*`)

// YAMLError turns an error of a strict YAML decoder into a message for a
// person: `line 12: unknown key "x"` instead of the decoder's "field x not
// found in type ...", several errors joined with "; ", without the
// library's "yaml: " prefix.
func YAMLError(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "yaml: unmarshal errors:\n  ")
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg = yamlUnknown.ReplaceAllString(msg, `line $1: unknown key "$2"`)
	return strings.ReplaceAll(msg, "\n  ", "; ")
}
