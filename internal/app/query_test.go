package app

import (
	"io"
	"net/http"
	"testing"
)

// TestQueryParameterRoutes: a route's query_parameters come from the
// config file to the router: the query decides between two routes of the
// same prefix.
func TestQueryParameterRoutes(t *testing.T) {
	routes := `{"match":{"prefix":"/","query_parameters":[{"name":"v","value":"2"},{"name":"id","value":"[0-9]+","regex":true}]},
		"direct_response":{"status":200,"body":"v2"}},
		{"match":{"prefix":"/"},"direct_response":{"status":200,"body":"v1"}}`
	a := startApp(t, buildCfg(t, routes, "", "127.0.0.1:9", false))
	for _, tc := range []struct{ path, want string }{
		{"/x?v=2&id=7", "v2"},
		{"/x?id=7&v=2", "v2"},
		{"/x?v=2&id=seven", "v1"},
		{"/x?v=2", "v1"},
		{"/x", "v1"},
	} {
		if code, body := get(t, a, tc.path); code != 200 || body != tc.want {
			t.Errorf("GET %s: %d %q, want %q", tc.path, code, body, tc.want)
		}
	}
}

// TestMethodRoutes: a header matcher on ":method" routes by the request
// method, through the proxy's request view.
func TestMethodRoutes(t *testing.T) {
	routes := `{"match":{"prefix":"/","headers":[{"name":":method","value":"POST|PUT","regex":true}]},
		"direct_response":{"status":200,"body":"write"}},
		{"match":{"prefix":"/"},"direct_response":{"status":200,"body":"read"}}`
	a := startApp(t, buildCfg(t, routes, "", "127.0.0.1:9", false))
	if code, body := get(t, a, "/x"); code != 200 || body != "read" {
		t.Errorf("GET: %d %q, want read", code, body)
	}
	req, err := http.NewRequest(http.MethodPut, "http://"+a.Addrs()[0].String()+"/x", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "write" {
		t.Errorf("PUT: %d %q, want write", resp.StatusCode, b)
	}
}
