package config

import (
	"encoding/json"
	"reflect"
	"strings"
)

// Every MOSN field is in exactly one of four classes, declared by its
// struct tags so that docs/mosn-compat.md (rendered from them by
// TestCompatDoc) cannot drift from the code:
//
//   - implemented: no ferry tag (a `note` tag may qualify it);
//   - `ferry:"ignored" why:"…"`: accepted, and harmless to ignore for the
//     reason given;
//   - `ferry:"observability" why:"…" until:"…"`: ignoring it loses
//     visibility, not traffic, so a set field is a warning until the
//     feature named by until lands;
//   - `ferry:"refused" why:"…" until:"…"`: behaviour-changing and not
//     implemented, so a set field is an error naming its path and what
//     would go wrong (why), and ferry opens no port; ferry.compat.
//     allow_unimplemented (or --allow-unimplemented) turns it into a
//     warning and ferry runs without it. `ferry:"refused,strict"` is never
//     turned into a warning: TLS that ferry cannot do is not sent or
//     served as plain text.
//
// Settings whose class depends on their value (bind_port false, lb_type,
// cluster type, the protocols, filter types) are checked by Validate and by
// the runtime build (internal/app), with the same three outcomes. A tag
// `ferry:"as=NAME"` names a field that has no json key of its own (it is
// decoded from the sibling key NAME).

// Class is how ferry treats a configuration field.
type Class uint8

// Classes.
const (
	// Implemented fields do what MOSN's do.
	Implemented Class = iota
	// Ignored fields are accepted and harmless to ignore.
	Ignored
	// Observability fields are warned about until implemented.
	Observability
	// Refused fields are errors unless allow_unimplemented is set.
	Refused
)

// String names the class as docs/mosn-compat.md does. Any goroutine.
func (c Class) String() string {
	switch c {
	case Implemented:
		return "implemented"
	case Ignored:
		return "ignored"
	case Observability:
		return "observability"
	case Refused:
		return "refused"
	}
	return "unknown"
}

// FieldClass is the class of one struct field with its reasons.
type FieldClass struct {
	// Class is the field's class.
	Class Class
	// Strict marks a refused field that allow_unimplemented does not
	// downgrade.
	Strict bool
	// Why says why an ignored field is harmless, or what goes wrong (is
	// lost) without a refused (observability) field.
	Why string
	// Until names the feature that will implement it.
	Until string
	// Note qualifies an implemented field.
	Note string
}

// classOf reads f's class from its tags.
func classOf(f reflect.StructField) FieldClass {
	fc := FieldClass{Why: f.Tag.Get("why"), Until: f.Tag.Get("until"), Note: f.Tag.Get("note")}
	for _, o := range strings.Split(f.Tag.Get("ferry"), ",") {
		switch o {
		case "ignored":
			fc.Class = Ignored
		case "observability":
			fc.Class = Observability
		case "refused":
			fc.Class = Refused
		case "strict":
			fc.Strict = true
		}
	}
	return fc
}

// compat walks a configuration for set fields that ferry does not
// implement.
type compat struct {
	// allow is ferry.compat.allow_unimplemented.
	allow bool
	// errs are the refusals.
	errs []FieldError
	// warns are observability fields and allowed refusals.
	warns []FieldError
}

// compatFindings returns the refusals (errors) and the warnings for the
// set fields of c that ferry does not implement.
func compatFindings(c *Config) (errs, warns []FieldError) {
	w := compat{allow: c.Ferry.Compat.AllowUnimplemented}
	w.walk(reflect.ValueOf(c).Elem(), "")
	return w.errs, w.warns
}

// walk searches v, found at path: a field ferry implements is searched
// further, any other is reported when set.
func (w *compat) walk(v reflect.Value, path string) {
	walkTree(v, path, func(v reflect.Value, path string, f *reflect.StructField) bool {
		if f == nil {
			return true
		}
		fc := classOf(*f)
		if fc.Class == Implemented {
			return true
		}
		if isSet(v) {
			w.report(path, fc)
		}
		return false
	})
}

// walkTree calls visit on v, found at path, and, when visit returns true,
// walks what v holds: the value of a non-nil pointer (at the same path),
// each item of a slice (path[i]) and each struct field that has a name in
// paths (pathName), for which visit gets the field too (f, else nil).
// Scalars, maps and json.RawMessage hold no tagged fields: they are leaves.
func walkTree(v reflect.Value, path string, visit func(v reflect.Value, path string, f *reflect.StructField) bool) {
	walkValue(v, path, nil, visit)
}

func walkValue(v reflect.Value, path string, f *reflect.StructField, visit func(reflect.Value, string, *reflect.StructField) bool) {
	if !visit(v, path, f) {
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			walkValue(v.Elem(), path, nil, visit)
		}
	case reflect.Slice:
		if v.Type() == reflect.TypeFor[json.RawMessage]() {
			return
		}
		for i := range v.Len() {
			walkValue(v.Index(i), index(path, i), nil, visit)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			sf := t.Field(i)
			if name, ok := pathName(sf); ok {
				walkValue(v.Field(i), join(path, name), &sf, visit)
			}
		}
	default: // scalars and maps hold no tagged fields
	}
}

// report records a set field of class fc at path.
func (w *compat) report(path string, fc FieldClass) {
	switch {
	case fc.Class == Observability:
		w.warns = append(w.warns, FieldError{Path: path, Msg: "not implemented yet: " + fc.Why + " (ferry has no " + fc.Until + " yet)"})
	case fc.Class != Refused:
	case fc.Strict:
		w.errs = append(w.errs, FieldError{Path: path, Msg: "not implemented: " + fc.Why +
			"; ferry has no " + fc.Until + " yet, and refuses this even with allow_unimplemented"})
	case w.allow:
		w.warns = append(w.warns, FieldError{Path: path, Msg: "not implemented: " + fc.Why +
			"; running without it (allow_unimplemented)"})
	default:
		w.errs = append(w.errs, FieldError{Path: path, Msg: RefusalMsg(fc.Why, fc.Until)})
	}
}

// RefusalMsg is the message of a refused setting: what would go wrong,
// what is missing, and the way out. Any goroutine.
func RefusalMsg(why, until string) string {
	return "not implemented: " + why + "; ferry has no " + until +
		" yet (--allow-unimplemented or ferry.compat.allow_unimplemented runs without it)"
}

// pathName returns the name of f in paths: its json key, or the key named
// by a `ferry:"as=NAME"` tag for a field decoded from a sibling key.
func pathName(f reflect.StructField) (string, bool) {
	for _, opt := range strings.Split(f.Tag.Get("ferry"), ",") {
		if as, ok := strings.CutPrefix(opt, "as="); ok {
			return as, true
		}
	}
	return jsonName(f)
}
