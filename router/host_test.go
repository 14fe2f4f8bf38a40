package router

import "testing"

func TestHostWithoutPort(t *testing.T) {
	tests := []struct {
		name string
		host string
		want string
	}{
		{name: "no port", host: "example.com", want: "example.com"},
		{name: "port", host: "example.com:8080", want: "example.com"},
		{name: "empty port", host: "example.com:", want: "example.com"},
		{name: "ipv6 with port", host: "[::1]:8080", want: "[::1]"},
		{name: "ipv6 without port", host: "[::1]", want: "[::1]"},
		{name: "ipv6 empty port", host: "[::1]:", want: "[::1]"},
		{name: "bare ipv6 not split", host: "::1", want: "::1"},
		{name: "bare ipv6 with digits not split", host: "fe80::1:80", want: "fe80::1:80"},
		{name: "non-digit port kept", host: "example.com:http", want: "example.com:http"},
		{name: "ipv4", host: "10.0.0.1:80", want: "10.0.0.1"},
		{name: "only colon", host: ":", want: ""},
		{name: "only digits", host: "8080", want: "8080"},
		{name: "bracket without close", host: "[::1:80", want: "[::1:80"},
		{name: "empty", host: "", want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.host[:hostWithoutPort([]byte(tc.host))]; got != tc.want {
				t.Errorf("hostWithoutPort(%q) = %q, want %q", tc.host, got, tc.want)
			}
		})
	}
}

func TestSplitPath(t *testing.T) {
	tests := []struct {
		name   string
		target string
		want   string
	}{
		{name: "plain", target: "/a/b", want: "/a/b"},
		{name: "query", target: "/a?b=c", want: "/a"},
		{name: "fragment", target: "/a#frag", want: "/a"},
		{name: "query then fragment", target: "/a?x#y", want: "/a"},
		{name: "only query", target: "?x", want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.target[:splitPath([]byte(tc.target))]; got != tc.want {
				t.Errorf("splitPath(%q) = %q, want %q", tc.target, got, tc.want)
			}
		})
	}
}
