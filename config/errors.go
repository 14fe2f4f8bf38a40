package config

import (
	"errors"
	"strconv"
	"strings"
)

// ErrUnknownFormat is returned by Load for a file name whose extension is
// not .json, .yaml or .yml, and by Parse for an unknown Format.
var ErrUnknownFormat = errors.New("config: unknown format (want .json, .yaml or .yml)")

// FieldError is one problem found in a configuration, located by its path.
type FieldError struct {
	// Path locates the offending value in JSON terms, for example
	// "cluster_manager.clusters[1].hosts[0].address". It is empty for a
	// problem with the document as a whole.
	Path string `json:"path" yaml:"path"`
	// Msg says what is wrong, in lower case, without a trailing period.
	Msg string `json:"msg" yaml:"msg"`
}

// String formats the error as "path: msg". Any goroutine.
func (e FieldError) String() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// ValidationError lists every problem found by Parse (unknown fields, type
// mismatches) or by Validate (meaning), in document order.
type ValidationError struct {
	// Errors holds the problems; it is never empty.
	Errors []FieldError `json:"errors" yaml:"errors"`
}

// Error prints one problem per line. Any goroutine.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		lines[i] = fe.String()
	}
	return strings.Join(lines, "\n")
}

// problems collects FieldErrors while walking a configuration.
type problems struct {
	// list holds the problems in the order found.
	list []FieldError
}

// add records a problem at path.
func (p *problems) add(path, msg string) {
	p.list = append(p.list, FieldError{Path: path, Msg: msg})
}

// err returns the collected problems as a *ValidationError, or nil.
func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	return &ValidationError{Errors: p.list}
}

// join appends a member name to a path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// index appends an array index to a path.
func index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}
