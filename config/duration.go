package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written as a string in time.ParseDuration
// syntax: "15s", "500ms", "1m30s".
//
// It follows MOSN's api.DurationConfig, which strips the quotes and calls
// time.ParseDuration: the string forms are accepted, and so is the bare
// number 0 (ParseDuration("0") succeeds). Any other bare number, such as 15,
// is rejected with a message asking for a unit, because MOSN rejects it too
// and guessing seconds or nanoseconds would silently change the meaning. An
// empty string is rejected, as in MOSN. null leaves the value unchanged.
type Duration time.Duration

// Std returns d as a time.Duration. Any goroutine.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats d as time.Duration does ("1m30s"). Any goroutine.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes d as a JSON string ("15s"). Any goroutine.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string, the bare number 0, or null.
// The caller owns the receiver.
func (d *Duration) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		return nil
	}
	if !strings.HasPrefix(s, `"`) {
		if s == "0" {
			*d = 0
			return nil
		}
		return errBareDuration
	}
	var str string
	if err := json.Unmarshal(b, &str); err != nil {
		return fmt.Errorf("config: duration: %w", err)
	}
	v, err := parseDuration(str)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalYAML writes d as a string ("15s"). Any goroutine.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// UnmarshalYAML reads a duration string or the number 0, for callers that
// decode YAML into these types directly rather than through Parse.
// The caller owns the receiver.
func (d *Duration) UnmarshalYAML(unmarshal func(any) error) error {
	var v any
	if err := unmarshal(&v); err != nil {
		return err
	}
	switch x := v.(type) {
	case nil:
		return nil
	case int:
		if x != 0 {
			return errBareDuration
		}
		*d = 0
		return nil
	case string:
		p, err := parseDuration(x)
		if err != nil {
			return err
		}
		*d = p
		return nil
	}
	return errBareDuration
}

// errBareDuration rejects a duration written as a non-zero bare number.
var errBareDuration = errors.New(`config: duration must be a string with a unit, such as "15s"`)

// parseDuration parses a duration string as MOSN does.
func parseDuration(s string) (Duration, error) {
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: want a number with a unit, such as \"15s\" or \"500ms\"", s)
	}
	return Duration(v), nil
}

// Processor is MOSN's server "processor" setting: the number of OS threads
// running Go code (GOMAXPROCS), or "auto" for the CPU quota of the
// container. MOSN stores it as interface{}; ferry accepts a non-negative
// integer, a string holding one, or "auto".
type Processor struct {
	// Auto is true for "auto": use the CPU quota (cgroup limit) or the
	// number of CPUs.
	Auto bool `json:"-" yaml:"-"`
	// N is the explicit thread count; 0 means unset (Go's default).
	N int `json:"-" yaml:"-"`
}

// MarshalJSON writes "auto" or the number. Any goroutine.
func (p Processor) MarshalJSON() ([]byte, error) {
	if p.Auto {
		return []byte(`"auto"`), nil
	}
	return []byte(strconv.Itoa(p.N)), nil
}

// UnmarshalJSON reads a number, a numeric string, "auto", or null.
// The caller owns the receiver.
func (p *Processor) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("config: processor: %w", err)
		}
	}
	v, err := parseProcessor(s)
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// MarshalYAML writes "auto" or the number. Any goroutine.
func (p Processor) MarshalYAML() (any, error) {
	if p.Auto {
		return "auto", nil
	}
	return p.N, nil
}

// parseProcessor parses "auto" or a non-negative integer.
func parseProcessor(s string) (Processor, error) {
	if strings.EqualFold(s, "auto") {
		return Processor{Auto: true}, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return Processor{}, fmt.Errorf(`invalid processor %q: want a non-negative integer or "auto"`, s)
	}
	return Processor{N: n}, nil
}
