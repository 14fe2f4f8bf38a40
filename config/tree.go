package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"
)

// kind is the JSON kind of a tree node.
type kind uint8

const (
	kindNull kind = iota
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
)

// String names the kind as error messages do. Any goroutine.
func (k kind) String() string {
	switch k {
	case kindNull:
		return "null"
	case kindBool:
		return "a boolean"
	case kindNumber:
		return "a number"
	case kindString:
		return "a string"
	case kindArray:
		return "an array"
	case kindObject:
		return "an object"
	}
	return "unknown"
}

// node is one value of the generic document tree that both JSON and YAML
// are read into. Objects keep their keys in document order so that problems
// are reported in the order a reader meets them.
type node struct {
	// kind selects which of the fields below is meaningful.
	kind kind
	// text holds a string's value or a number's literal (JSON syntax).
	text string
	// b holds a boolean's value.
	b bool
	// keys holds an object's member names, in document order.
	keys []string
	// vals holds an object's member values, parallel to keys.
	vals []*node
	// items holds an array's elements.
	items []*node
}

// member returns the value of the object member named exactly key, or nil.
func (n *node) member(key string) *node {
	for i, k := range n.keys {
		if k == key {
			return n.vals[i]
		}
	}
	return nil
}

// maxTreeNodes bounds the size of a document after YAML alias expansion, so
// that a "billion laughs" document fails instead of exhausting memory.
const maxTreeNodes = 1 << 20

// maxTreeDepth bounds nesting, so that hostile input cannot exhaust the stack.
const maxTreeDepth = 512

// errTooLarge reports a document over maxTreeNodes or maxTreeDepth.
var errTooLarge = errors.New("config: document too large or too deeply nested")

// parseJSONTree reads data as a single JSON value. Syntax errors name the
// line, column and byte offset.
func parseJSONTree(data []byte) (*node, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	p := jsonTreeParser{dec: dec, data: data}
	n, err := p.value(0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, p.syntaxErr(errors.New("unexpected data after the top-level value"), dec.InputOffset())
	}
	return n, nil
}

// jsonTreeParser builds a tree from a json.Decoder's token stream.
type jsonTreeParser struct {
	// dec yields the tokens.
	dec *json.Decoder
	// data is the whole input, used to turn offsets into lines.
	data []byte
	// count is the number of nodes built so far.
	count int
}

// value reads one JSON value.
func (p *jsonTreeParser) value(depth int) (*node, error) {
	p.count++
	if depth > maxTreeDepth || p.count > maxTreeNodes {
		return nil, errTooLarge
	}
	tok, err := p.dec.Token()
	if err != nil {
		return nil, p.tokenErr(err)
	}
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			return p.object(depth)
		}
		if t == '[' {
			return p.array(depth)
		}
		return nil, p.syntaxErr(fmt.Errorf("unexpected %q", rune(t)), p.dec.InputOffset())
	case string:
		return &node{kind: kindString, text: t}, nil
	case json.Number:
		return &node{kind: kindNumber, text: t.String()}, nil
	case bool:
		return &node{kind: kindBool, b: t}, nil
	case nil:
		return &node{kind: kindNull}, nil
	}
	return nil, p.syntaxErr(fmt.Errorf("unexpected token %v", tok), p.dec.InputOffset())
}

// object reads an object's members after its '{'.
func (p *jsonTreeParser) object(depth int) (*node, error) {
	n := &node{kind: kindObject}
	for p.dec.More() {
		off := p.dec.InputOffset()
		tok, err := p.dec.Token()
		if err != nil {
			return nil, p.tokenErr(err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, p.syntaxErr(errors.New("object key is not a string"), off)
		}
		if n.member(key) != nil {
			return nil, p.syntaxErr(fmt.Errorf("duplicate key %q", key), off)
		}
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		n.keys = append(n.keys, key)
		n.vals = append(n.vals, v)
	}
	if _, err := p.dec.Token(); err != nil { // the closing '}'
		return nil, p.tokenErr(err)
	}
	return n, nil
}

// array reads an array's elements after its '['.
func (p *jsonTreeParser) array(depth int) (*node, error) {
	n := &node{kind: kindArray}
	for p.dec.More() {
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		n.items = append(n.items, v)
	}
	if _, err := p.dec.Token(); err != nil { // the closing ']'
		return nil, p.tokenErr(err)
	}
	return n, nil
}

// tokenErr turns a decoder error into one that names the position.
func (p *jsonTreeParser) tokenErr(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return p.syntaxErr(err, se.Offset)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return p.syntaxErr(errors.New("unexpected end of input"), int64(len(p.data)))
	}
	return p.syntaxErr(err, p.dec.InputOffset())
}

// syntaxErr formats err with the line, column and offset of off.
func (p *jsonTreeParser) syntaxErr(err error, off int64) error {
	off = min(max(off, 0), int64(len(p.data)))
	line, col := 1, 1
	for _, c := range p.data[:off] {
		if c == '\n' {
			line++
			col = 1
			continue
		}
		col++
	}
	return fmt.Errorf("config: json syntax error at line %d, column %d (offset %d): %w", line, col, off, err)
}

// parseYAMLTree reads data as a single YAML document. Syntax errors name the
// line (yaml.v3 formats them).
func parseYAMLTree(data []byte) (*node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if doc.Kind == 0 {
		return nil, errors.New("config: empty document")
	}
	c := yamlConverter{}
	return c.convert(&doc, 0)
}

// yamlConverter turns a yaml.Node into a tree, expanding aliases and merge
// keys within the maxTreeNodes budget.
type yamlConverter struct {
	// count is the number of nodes built so far.
	count int
}

// convert converts one YAML node.
func (c *yamlConverter) convert(y *yaml.Node, depth int) (*node, error) {
	c.count++
	if depth > maxTreeDepth || c.count > maxTreeNodes {
		return nil, errTooLarge
	}
	switch y.Kind {
	case yaml.DocumentNode:
		if len(y.Content) == 0 {
			return &node{kind: kindNull}, nil
		}
		return c.convert(y.Content[0], depth+1)
	case yaml.AliasNode:
		return c.convert(y.Alias, depth+1)
	case yaml.SequenceNode:
		n := &node{kind: kindArray}
		for _, item := range y.Content {
			v, err := c.convert(item, depth+1)
			if err != nil {
				return nil, err
			}
			n.items = append(n.items, v)
		}
		return n, nil
	case yaml.MappingNode:
		n := &node{kind: kindObject}
		return n, c.mapping(n, y, depth)
	case yaml.ScalarNode:
		return yamlScalar(y)
	}
	return nil, fmt.Errorf("config: yaml: line %d: unsupported node", y.Line)
}

// mapping adds the members of the YAML mapping y to n. Keys set directly win
// over keys brought in by a merge key ("<<").
func (c *yamlConverter) mapping(n *node, y *yaml.Node, depth int) error {
	var merges []*yaml.Node
	for i := 0; i+1 < len(y.Content); i += 2 {
		k, v := y.Content[i], y.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			return fmt.Errorf("config: yaml: line %d: mapping key is not a scalar", k.Line)
		}
		if n.member(k.Value) != nil {
			return fmt.Errorf("config: yaml: line %d: duplicate key %q", k.Line, k.Value)
		}
		val, err := c.convert(v, depth+1)
		if err != nil {
			return err
		}
		n.keys = append(n.keys, k.Value)
		n.vals = append(n.vals, val)
	}
	for _, m := range merges {
		if err := c.merge(n, m, depth); err != nil {
			return err
		}
	}
	return nil
}

// merge adds the members of the merged mapping (or sequence of mappings) m
// that n does not have yet.
func (c *yamlConverter) merge(n *node, m *yaml.Node, depth int) error {
	src, err := c.convert(m, depth+1)
	if err != nil {
		return err
	}
	srcs := []*node{src}
	if src.kind == kindArray {
		srcs = src.items
	}
	for _, s := range srcs {
		if s.kind != kindObject {
			return fmt.Errorf("config: yaml: line %d: merge key needs a mapping", m.Line)
		}
		for i, k := range s.keys {
			if n.member(k) == nil {
				n.keys = append(n.keys, k)
				n.vals = append(n.vals, s.vals[i])
			}
		}
	}
	return nil
}

// yamlScalar converts a YAML scalar by its resolved tag. Timestamps and
// unknown tags stay strings, as they are in JSON.
func yamlScalar(y *yaml.Node) (*node, error) {
	switch y.ShortTag() {
	case "!!null":
		return &node{kind: kindNull}, nil
	case "!!bool":
		var b bool
		if err := y.Decode(&b); err != nil {
			return nil, fmt.Errorf("config: yaml: line %d: %w", y.Line, err)
		}
		return &node{kind: kindBool, b: b}, nil
	case "!!int", "!!float":
		return yamlNumber(y)
	}
	return &node{kind: kindString, text: y.Value}, nil
}

// yamlNumber converts a YAML number to a JSON number literal.
func yamlNumber(y *yaml.Node) (*node, error) {
	var v any
	if err := y.Decode(&v); err != nil {
		return nil, fmt.Errorf("config: yaml: line %d: %w", y.Line, err)
	}
	var text string
	switch n := v.(type) {
	case int:
		text = strconv.Itoa(n)
	case int64:
		text = strconv.FormatInt(n, 10)
	case uint64:
		text = strconv.FormatUint(n, 10)
	case float64:
		if math.IsInf(n, 0) || math.IsNaN(n) {
			return nil, fmt.Errorf("config: yaml: line %d: %s is not a finite number", y.Line, y.Value)
		}
		text = strconv.FormatFloat(n, 'g', -1, 64)
	case time.Time, string:
		return &node{kind: kindString, text: y.Value}, nil
	default:
		return nil, fmt.Errorf("config: yaml: line %d: unsupported number %q", y.Line, y.Value)
	}
	return &node{kind: kindNumber, text: text}, nil
}

// encodeJSON writes n as compact JSON.
func encodeJSON(buf *bytes.Buffer, n *node) {
	switch n.kind {
	case kindNull:
		buf.WriteString("null")
	case kindBool:
		buf.WriteString(strconv.FormatBool(n.b))
	case kindNumber:
		buf.WriteString(n.text)
	case kindString:
		writeJSONString(buf, n.text)
	case kindArray, kindObject:
		// The same comma-separated list: an object's members are its
		// values, each after its key.
		open, end, vals := byte('['), byte(']'), n.items
		if n.kind == kindObject {
			open, end, vals = '{', '}', n.vals
		}
		buf.WriteByte(open)
		for i, v := range vals {
			if i > 0 {
				buf.WriteByte(',')
			}
			if n.kind == kindObject {
				writeJSONString(buf, n.keys[i])
				buf.WriteByte(':')
			}
			encodeJSON(buf, v)
		}
		buf.WriteByte(end)
	}
}

// writeJSONString writes s as a JSON string literal.
func writeJSONString(buf *bytes.Buffer, s string) {
	b, err := json.Marshal(s)
	if err != nil { // a Go string always marshals; keep the output valid regardless
		buf.WriteString(`""`)
		return
	}
	buf.Write(b)
}
