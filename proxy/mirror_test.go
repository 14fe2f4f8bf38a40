package proxy

import "testing"

// TestShadowHost: "-shadow" goes after the host name, before any port,
// in the Host field only.
func TestShadowHost(t *testing.T) {
	const line = "GET / HTTP/1.1\r\n"
	for _, tc := range []struct{ in, want string }{
		{"Host: a.test\r\n", "Host: a.test-shadow\r\n"},
		{"X-Forwarded-Host: x\r\nhost:a.test:8080\r\n", "X-Forwarded-Host: x\r\nhost:a.test-shadow:8080\r\n"},
		{"Hostname: h\r\nHOST: a \r\n", "Hostname: h\r\nHOST: a-shadow \r\n"},
		{"Host: [::1]:81\r\n", "Host: [::1]-shadow:81\r\n"},
		{"Host: [::1]\r\n", "Host: [::1]-shadow\r\n"},
		{"Host: 10.0.0.1:80\r\nA: b\r\n", "Host: 10.0.0.1-shadow:80\r\nA: b\r\n"},
		{"A: b\r\n", "A: b\r\n"},
	} {
		got := string(shadowHost([]byte(line + tc.in + "\r\n")))
		if want := line + tc.want + "\r\n"; got != want {
			t.Errorf("%q: got %q, want %q", tc.in, got, want)
		}
	}
}
