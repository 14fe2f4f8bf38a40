package config

import (
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
)

// typeOfConfig returns the schema root.
func typeOfConfig() reflect.Type { return reflect.TypeFor[Config]() }

// schemaChecker walks a document tree against the Go types it will be
// decoded into, matching object keys to fields by json tag as
// encoding/json does (exact first, then case-insensitively). It records
// every unknown key and every value of the wrong JSON kind or range, so that
// decoding the checked tree cannot fail.
type schemaChecker struct {
	// problems collects unknown fields and type mismatches.
	problems problems
	// notes collects warnings: keys matched only case-insensitively.
	notes []FieldError
	// fields caches each struct type's json fields.
	fields map[reflect.Type][]schemaField
}

// schemaField is a struct field as JSON sees it.
type schemaField struct {
	// name is the json key.
	name string
	// typ is the field's type.
	typ reflect.Type
}

// check checks n against t at path.
func (s *schemaChecker) check(n *node, t reflect.Type, path string) {
	if n.kind == kindNull { // null leaves any field at its zero value
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case reflect.TypeFor[Duration]():
		s.checkDuration(n, path)
		return
	case reflect.TypeFor[Processor]():
		s.checkProcessor(n, path)
		return
	case reflect.TypeFor[TCPProxyDuration]():
		var d TCPProxyDuration // a string or nanoseconds (tcpproxy.go)
		raw := n.text
		if n.kind == kindString {
			raw = strconv.Quote(n.text)
		}
		if n.kind != kindString && n.kind != kindNumber || d.UnmarshalJSON([]byte(raw)) != nil {
			s.problems.add(path, `want a duration string such as "90s" or a number of nanoseconds`)
		}
		return
	case reflect.TypeFor[json.RawMessage]():
		return
	case reflect.TypeFor[MirrorPolicies]():
		if n.kind == kindObject { // MOSN's one policy; a list is Envoy's
			s.checkStruct(n, reflect.TypeFor[MirrorPolicy](), path)
		} else {
			s.checkArray(n, t, path)
		}
		return
	case reflect.TypeFor[RetryOn]():
		if n.kind != kindBool {
			s.want(n, kindString, path) // MOSN's boolean, or Envoy's conditions
		}
		return
	}
	switch t.Kind() {
	case reflect.Interface:
		return
	case reflect.Struct:
		s.checkStruct(n, t, path)
	case reflect.Slice, reflect.Array:
		s.checkArray(n, t, path)
	case reflect.Map:
		s.checkMap(n, t, path)
	case reflect.String:
		s.want(n, kindString, path)
	case reflect.Bool:
		s.want(n, kindBool, path)
	default:
		s.checkNumber(n, t, path)
	}
}

// want records a mismatch unless n is of kind k.
func (s *schemaChecker) want(n *node, k kind, path string) bool {
	if n.kind == k {
		return true
	}
	s.problems.add(path, "must be "+k.String()+", got "+n.kind.String())
	return false
}

// checkStruct checks an object's members against t's fields.
func (s *schemaChecker) checkStruct(n *node, t reflect.Type, path string) {
	if !s.want(n, kindObject, path) {
		return
	}
	fields := s.fieldsOf(t)
	seen := make(map[string]string, len(n.keys))
	for i, key := range n.keys {
		p := join(path, key)
		f, ok := matchField(fields, key)
		if !ok {
			s.problems.add(p, "unknown field")
			continue
		}
		if prev, dup := seen[f.name]; dup {
			s.problems.add(p, "duplicates key "+strconv.Quote(prev)+" (keys match field names case-insensitively)")
			continue
		}
		seen[f.name] = key
		if key != f.name {
			s.notes = append(s.notes, FieldError{Path: p, Msg: "matches field " + strconv.Quote(f.name) + " only case-insensitively"})
		}
		typ := f.typ
		if t == reflect.TypeFor[NetworkFilter]() && f.name == "config" && filterType(n) == ProxyFilterType {
			typ = reflect.TypeFor[ProxyConfig]()
		}
		if t == reflect.TypeFor[NetworkFilter]() && f.name == "config" && filterType(n) == TCPProxyFilterType {
			typ = reflect.TypeFor[TCPProxyConfig]()
		}
		s.check(n.vals[i], typ, p)
	}
}

// filterType returns the string value of a filter object's "type" member,
// found as encoding/json would find it.
func filterType(n *node) string {
	var typ string
	for i, k := range n.keys {
		if k == "type" || strings.EqualFold(k, "type") {
			if v := n.vals[i]; v.kind == kindString {
				typ = v.text
			}
		}
	}
	return typ
}

// matchField finds the field for key: an exact match, else the first
// case-insensitive one.
func matchField(fields []schemaField, key string) (schemaField, bool) {
	for _, f := range fields {
		if f.name == key {
			return f, true
		}
	}
	for _, f := range fields {
		if strings.EqualFold(f.name, key) {
			return f, true
		}
	}
	return schemaField{}, false
}

// fieldsOf lists t's json fields (exported, not tagged "-").
func (s *schemaChecker) fieldsOf(t reflect.Type) []schemaField {
	if f, ok := s.fields[t]; ok {
		return f
	}
	var out []schemaField
	for i := range t.NumField() {
		f := t.Field(i)
		name, ok := jsonName(f)
		if !ok {
			continue
		}
		out = append(out, schemaField{name: name, typ: f.Type})
	}
	if s.fields == nil {
		s.fields = make(map[reflect.Type][]schemaField)
	}
	s.fields[t] = out
	return out
}

// jsonName returns the json key of a struct field, and false for fields
// that JSON does not see.
func jsonName(f reflect.StructField) (string, bool) {
	if !f.IsExported() {
		return "", false
	}
	tag := f.Tag.Get("json")
	if tag == "-" {
		return "", false
	}
	name, _, _ := strings.Cut(tag, ",")
	if name == "" {
		name = f.Name
	}
	return name, true
}

// checkArray checks each element.
func (s *schemaChecker) checkArray(n *node, t reflect.Type, path string) {
	if !s.want(n, kindArray, path) {
		return
	}
	for i, item := range n.items {
		s.check(item, t.Elem(), index(path, i))
	}
}

// checkMap checks each member's value; keys are free.
func (s *schemaChecker) checkMap(n *node, t reflect.Type, path string) {
	if !s.want(n, kindObject, path) {
		return
	}
	for i, key := range n.keys {
		s.check(n.vals[i], t.Elem(), join(path, key))
	}
}

// checkNumber checks a number against an integer or float kind's range.
func (s *schemaChecker) checkNumber(n *node, t reflect.Type, path string) {
	if !s.want(n, kindNumber, path) {
		return
	}
	bits := t.Bits()
	var err error
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		_, err = strconv.ParseInt(n.text, 10, bits)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if strings.HasPrefix(n.text, "-") {
			s.problems.add(path, "must not be negative, got "+n.text)
			return
		}
		_, err = strconv.ParseUint(n.text, 10, bits)
	case reflect.Float32, reflect.Float64:
		if _, err = strconv.ParseFloat(n.text, bits); err != nil {
			s.problems.add(path, "number "+n.text+" is out of range")
		}
		return
	default:
		s.problems.add(path, "unsupported field type "+t.String())
		return
	}
	if err == nil {
		return
	}
	if errors.Is(err, strconv.ErrRange) {
		s.problems.add(path, "number "+n.text+" is out of range for "+t.Kind().String())
		return
	}
	s.problems.add(path, "must be an integer, got "+n.text)
}

// checkDuration checks a Duration: a duration string or the number 0.
func (s *schemaChecker) checkDuration(n *node, path string) {
	switch n.kind {
	case kindString:
		if _, err := parseDuration(n.text); err != nil {
			s.problems.add(path, err.Error())
		}
	case kindNumber:
		if n.text != "0" {
			s.problems.add(path, `duration must be a string with a unit, such as "15s", got `+n.text)
		}
	default:
		s.problems.add(path, "must be a duration string, got "+n.kind.String())
	}
}

// checkProcessor checks a Processor: a non-negative integer or "auto".
func (s *schemaChecker) checkProcessor(n *node, path string) {
	if n.kind != kindString && n.kind != kindNumber {
		s.problems.add(path, `must be a number or "auto", got `+n.kind.String())
		return
	}
	if _, err := parseProcessor(n.text); err != nil {
		s.problems.add(path, err.Error())
	}
}
