package proxy

import "testing"

func TestNormalizePath(t *testing.T) {
	norm := &PathOptions{Normalize: true}
	merge := &PathOptions{Normalize: true, MergeSlashes: true}
	reject := &PathOptions{Normalize: true, EscapedSlashes: EscapedReject}
	decode := &PathOptions{Normalize: true, EscapedSlashes: EscapedDecode}
	raw := &PathOptions{MergeSlashes: true}
	tests := []struct {
		name string
		in   string
		o    *PathOptions
		want string // "" means rejected
	}{
		{name: "plain", in: "/a/b?x=1", o: norm, want: "/a/b?x=1"},
		{name: "dot segments", in: "/public/../admin", o: norm, want: "/admin"},
		{name: "single dots", in: "/a/./b/.", o: norm, want: "/a/b/"},
		{name: "trailing dotdot", in: "/a/b/..", o: norm, want: "/a/"},
		{name: "above the root", in: "/../etc/passwd", o: norm, want: ""},
		{name: "encoded dots", in: "/public/%2e%2E/admin", o: norm, want: "/admin"},
		{name: "unreserved decoded", in: "/%61dmin/%7Euser", o: norm, want: "/admin/~user"},
		{name: "reserved kept upper-cased", in: "/a%3fb", o: norm, want: "/a%3Fb"},
		{name: "escaped slash kept", in: "/a%2fb", o: norm, want: "/a%2Fb"},
		{name: "escaped slash rejected", in: "/a%2Fb", o: reject, want: ""},
		{name: "escaped backslash rejected", in: "/a%5cb", o: reject, want: ""},
		{name: "escaped slash decoded", in: "/a%2Fb", o: decode, want: "/a/b"},
		{name: "decoded slash then dotdot", in: "/a%2F..%2Fb", o: decode, want: "/b"},
		{name: "malformed escape", in: "/a%zz", o: norm, want: ""},
		{name: "truncated escape", in: "/a%4", o: norm, want: ""},
		{name: "merge slashes", in: "//a///b", o: merge, want: "/a/b"},
		{name: "slashes kept without merge", in: "//a//b", o: norm, want: "//a//b"},
		{name: "query untouched", in: "/a/../b?p=/../x%2F", o: norm, want: "/b?p=/../x%2F"},
		{name: "merge only, no dot removal", in: "//a/../b", o: raw, want: "/a/../b"},
		{name: "malformed escape kept when not normalising", in: "/a%zz", o: raw, want: "/a%zz"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := normalizePath(nil, []byte(tc.in), tc.o)
			if tc.want == "" {
				if ok {
					t.Fatalf("accepted as %q, want rejected", got)
				}
				return
			}
			if !ok || string(got) != tc.want {
				t.Fatalf("got %q ok=%v, want %q", got, ok, tc.want)
			}
		})
	}
}

func TestNormalizePathNoWorkNoAlloc(t *testing.T) {
	o := &PathOptions{Normalize: true, MergeSlashes: true}
	p := []byte("/api/v1/users?id=7")
	if n := testing.AllocsPerRun(100, func() { _, _ = normalizePath(nil, p, o) }); n != 0 {
		t.Fatalf("%v allocations for a path that needs nothing", n)
	}
}

func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{"/a/../b", "/%2e%2e/x", "//a//b/./c", "/a%2Fb?q", "/%", "/.."} {
		f.Add(s)
	}
	o := &PathOptions{Normalize: true, MergeSlashes: true, EscapedSlashes: EscapedDecode}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) == 0 || s[0] != '/' {
			return
		}
		out, ok := normalizePath(nil, []byte(s), o)
		if !ok {
			return
		}
		p := string(out)
		if i := indexByte(p, '?'); i >= 0 {
			p = p[:i]
		}
		if len(p) == 0 || p[0] != '/' {
			t.Fatalf("%q normalised to %q: not absolute", s, out)
		}
		for _, bad := range []string{"/../", "/./"} {
			if contains(p+"/", bad) { // the added slash catches a trailing "/.." or "/."
				t.Fatalf("%q normalised to %q: still contains %q", s, out, bad)
			}
		}
		if contains(p, "//") {
			t.Fatalf("%q normalised to %q: slashes not merged", s, out)
		}
		again, ok2 := normalizePath(nil, out, o)
		if !ok2 || string(again) != string(out) {
			t.Fatalf("not idempotent: %q -> %q -> %q (%v)", s, out, again, ok2)
		}
	})
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
