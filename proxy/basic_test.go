package proxy_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestProxyGetKeepAlive(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "path=%s xff=%s host=%s", r.URL.Path, r.Header.Get("X-Forwarded-For"), r.Host)
	}))
	defer up.Close()
	h := startProxy(t, []string{up.Listener.Addr().String()}, nil)
	c := h.client()
	for i := range 20 {
		code, body := h.get(c, fmt.Sprintf("/p%d", i))
		want := fmt.Sprintf("path=/p%d xff=127.0.0.1 host=ferry.test", i)
		if code != 200 || body != want {
			t.Fatalf("request %d: %d %q, want 200 %q", i, code, body, want)
		}
	}
	if n := h.stat("upstream_cx_total"); n != 1 {
		t.Errorf("upstream connections = %d, want 1 (keep-alive reuse)", n)
	}
	_ = io.Discard
}
