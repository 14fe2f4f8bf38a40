package config

import (
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// sortBySchema orders problems as the schema orders fields: top-level
// fields in Config's declaration order, array elements by index, and so on
// down. The sort is stable, so problems at one path keep their order.
func sortBySchema(list []FieldError) {
	keys := make(map[string][]int, len(list))
	for _, fe := range list {
		if _, ok := keys[fe.Path]; !ok {
			keys[fe.Path] = schemaKey(fe.Path)
		}
	}
	slices.SortStableFunc(list, func(a, b FieldError) int {
		return slices.Compare(keys[a.Path], keys[b.Path])
	})
}

// unknownRank sorts paths that do not follow the schema last.
const unknownRank = 1 << 30

// schemaKey turns a path into the field and element indexes that lead to
// it from Config.
func schemaKey(path string) []int {
	var key []int
	t := reflect.TypeFor[Config]()
	for path != "" {
		var seg string
		if strings.HasPrefix(path, "[") {
			end := strings.IndexByte(path, ']')
			if end < 0 {
				return append(key, unknownRank)
			}
			seg, path = path[1:end], path[end+1:]
			i, err := strconv.Atoi(seg)
			t = elemType(t)
			if err != nil || t == nil || t.Kind() != reflect.Slice {
				return append(key, unknownRank)
			}
			key, t = append(key, i), t.Elem()
			continue
		}
		path = strings.TrimPrefix(path, ".")
		end := strings.IndexAny(path, ".[")
		if end < 0 {
			end = len(path)
		}
		seg, path = path[:end], path[end:]
		var i int
		if i, t = fieldStep(t, seg); t == nil {
			return append(key, unknownRank)
		}
		key = append(key, i)
	}
	return key
}

// elemType strips pointers from t (nil stays nil).
func elemType(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// fieldStep finds the field named seg in struct type t and returns its
// index and type (nil when there is none). A map's members all rank 0.
func fieldStep(t reflect.Type, seg string) (int, reflect.Type) {
	t = elemType(t)
	switch {
	case t == nil:
		return 0, nil
	case t.Kind() == reflect.Map:
		return 0, t.Elem()
	case t.Kind() != reflect.Struct:
		return 0, nil
	}
	fold := -1
	for i := range t.NumField() {
		name, ok := pathName(t.Field(i))
		if !ok {
			continue
		}
		if name == seg {
			fold = i
			break
		}
		if fold < 0 && strings.EqualFold(name, seg) {
			fold = i
		}
	}
	if fold < 0 {
		return 0, nil
	}
	if t == reflect.TypeFor[NetworkFilter]() && strings.EqualFold(seg, "config") {
		return fold, reflect.TypeFor[ProxyConfig]()
	}
	return fold, t.Field(fold).Type
}
