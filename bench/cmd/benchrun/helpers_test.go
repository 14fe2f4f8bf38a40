package main

import "testing"

// parseCase is one row of a parser's table test: for in the parser
// succeeds (ok) or fails, and returns want.
type parseCase[T any] struct {
	name string // the subtest's name; in when empty
	in   string
	want T
	ok   bool
}

// checkParse runs parse over cases. Each must succeed or fail as its ok
// says and return a value same to want; valueOnError says whether a
// failing parse must return want too (the zero value, usually) or may
// return what it had parsed so far.
func checkParse[T any](t *testing.T, parse func(string) (T, error), same func(got, want T) bool, valueOnError bool, cases []parseCase[T]) {
	t.Helper()
	for _, tc := range cases {
		name := tc.name
		if name == "" {
			name = tc.in
		}
		t.Run(name, func(t *testing.T) {
			got, err := parse(tc.in)
			if (err == nil) != tc.ok || ((tc.ok || valueOnError) && !same(got, tc.want)) {
				t.Fatalf("parse(%q) = %+v, %v; want %+v ok=%v", tc.in, got, err, tc.want, tc.ok)
			}
		})
	}
}

// equal is same for comparable values.
func equal[T comparable](got, want T) bool { return got == want }
