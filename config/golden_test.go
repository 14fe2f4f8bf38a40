package config

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

//nolint:gochecknoglobals // test flag, read-only after flag.Parse
var update = flag.Bool("update", false, "rewrite the expected part of testdata/golden files")

// goldenSep separates a golden file's input from its expected output.
const goldenSep = "\n----\n"

// TestGolden loads each testdata/golden/*.{json,yaml}.golden file's input,
// parses and validates it, and compares the report with the expected part.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/golden/*.golden")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no golden files")
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".golden")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			input, want, ok := strings.Cut(string(data), goldenSep)
			if !ok {
				t.Fatalf("%s: no %q separator", file, strings.TrimSpace(goldenSep))
			}
			format, err := FormatOf(name)
			if err != nil {
				t.Fatal(err)
			}
			got := report([]byte(input), format)
			if *update {
				out := input + goldenSep + got
				if err := os.WriteFile(file, []byte(out), 0o600); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != want {
				t.Errorf("report mismatch\n--- got:\n%s\n--- want:\n%s", got, want)
			}
		})
	}
}

// report describes what Parse, Validate and Warnings make of input, one
// finding per line: "parse: …", "invalid: …", "warning: …", or "ok".
func report(input []byte, format Format) string {
	var b bytes.Buffer
	c, err := Parse(input, format)
	if err != nil {
		writeErr(&b, "parse", err)
		return b.String()
	}
	if err := c.Validate(); err != nil {
		writeErr(&b, "invalid", err)
	}
	for _, w := range c.Warnings() {
		b.WriteString("warning: " + w + "\n")
	}
	if b.Len() == 0 {
		b.WriteString("ok\n")
	}
	return b.String()
}

// writeErr writes each line of err with a prefix; a *ValidationError must
// be what Parse and Validate return for field problems.
func writeErr(b *bytes.Buffer, prefix string, err error) {
	var ve *ValidationError
	if errors.As(err, &ve) {
		for _, fe := range ve.Errors {
			b.WriteString(prefix + ": " + fe.String() + "\n")
		}
		return
	}
	b.WriteString(prefix + " (syntax): " + err.Error() + "\n")
}
