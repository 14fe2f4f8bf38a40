package config

import (
	"encoding/json"
	"strings"
	"testing"
)

// mirrorConfig is retryConfig's config with route r (the members of the
// only route, after match) and a second cluster "shadow".
func mirrorConfig(r string) string {
	js := strings.Replace(retryConfig(`{}`), `"route":{"cluster_name":"c","retry_policy":{}}`, r, 1)
	return strings.Replace(js, `"clusters":[{"name":"c"`, `"clusters":[{"name":"shadow","hosts":[{"address":"127.0.0.1:2"}]},{"name":"c"`, 1)
}

// TestMirrorPolicy: request_mirror_policies is MOSN's {cluster, percent}
// or a list of them; every mistake is named at its path, an entry by its
// index either way.
func TestMirrorPolicy(t *testing.T) {
	const at = "servers[0].routers[0].virtual_hosts[0].routers[0].request_mirror_policies"
	const route = `"route":{"cluster_name":"c"},`
	for _, tc := range []struct {
		r, want string // want "" means valid
	}{
		{r: route + `"request_mirror_policies":{"cluster":"shadow","percent":100}`},
		{r: route + `"request_mirror_policies":{"cluster":"shadow","percent":0}`},
		{r: route + `"request_mirror_policies":{"cluster":"shadow"}`},
		{r: route + `"request_mirror_policies":[{"cluster":"shadow","percent":5},{"cluster":"c","percent":100}]`},
		{r: route + `"request_mirror_policies":[]`},
		{r: route + `"request_mirror_policies":{"cluster":"nope","percent":10}`, want: at + `[0].cluster: "nope" names no cluster`},
		{r: route + `"request_mirror_policies":[{"cluster":"shadow"},{"cluster":"nope"}]`, want: at + `[1].cluster: "nope" names no cluster`},
		{r: route + `"request_mirror_policies":{"percent":10}`, want: at + `[0].cluster: "" names no cluster`},
		{r: route + `"request_mirror_policies":{"cluster":"shadow","percent":101}`, want: at + `[0].percent: 101 is above 100`},
		{r: route + `"request_mirror_policies":{"cluster":"shadow","percent":-1}`, want: at + `.percent`},
		{r: route + `"request_mirror_policies":{"cluster":"shadow","trace_sampled":true}`, want: at + `[0].trace_sampled: not implemented`},
		{r: route + `"request_mirror_policies":[{"cluster":"shadow","bogus":1}]`, want: at + `[0].bogus: unknown field`},
		{r: route + `"request_mirror_policies":"shadow"`, want: at + `: must be`},
		{r: `"direct_response":{"status":200},"request_mirror_policies":{"cluster":"shadow","percent":5}`,
			want: at + `[0]: needs a route action: a direct_response or redirect sends nothing upstream to copy`},
	} {
		if got := parseAndValidate(mirrorConfig(tc.r)); !errorSays(got, tc.want) {
			t.Errorf("%s: %v, want %q", tc.r, got, tc.want)
		}
	}
}

// parseAndValidate is Parse then Validate on a JSON config.
func parseAndValidate(js string) error {
	c, err := Parse([]byte(js), FormatJSON)
	if err != nil {
		return err
	}
	return c.Validate()
}

// errorSays reports whether err is nil for want "", else contains want.
func errorSays(err error, want string) bool {
	if want == "" {
		return err == nil
	}
	return err != nil && strings.Contains(err.Error(), want)
}

// TestMirrorPolicyRefusedOverH2Upstream: the mirror speaks HTTP/1.1 only,
// so a route a listener with upstream_protocol Http2 reaches may not have
// one.
func TestMirrorPolicyRefusedOverH2Upstream(t *testing.T) {
	js := strings.Replace(upstreamH2Config, `"route": {"cluster_name": "c"}`,
		`"route": {"cluster_name": "c"}, "request_mirror_policies": {"cluster": "tls", "percent": 10}`, 1)
	want := "servers[0].routers[0].virtual_hosts[0].routers[0].request_mirror_policies: not honoured over HTTP/2 upstreams yet"
	if err := parseAndValidate(js); !errorSays(err, want) {
		t.Fatalf("got %v, want %q", err, want)
	}
}

// TestMirrorPoliciesJSON: one policy is written back as MOSN's object
// (config_dump), several as a list, and both read back.
func TestMirrorPoliciesJSON(t *testing.T) {
	for _, tc := range []struct{ in, out string }{
		{`{"cluster":"s","percent":5}`, `{"cluster":"s","percent":5}`},
		{`[{"cluster":"s"}]`, `{"cluster":"s"}`},
		{`[{"cluster":"s"},{"cluster":"t","percent":1}]`, `[{"cluster":"s"},{"cluster":"t","percent":1}]`},
	} {
		var m MirrorPolicies
		if err := json.Unmarshal([]byte(tc.in), &m); err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		b, err := json.Marshal(m)
		if err != nil || string(b) != tc.out {
			t.Fatalf("%s: marshalled %s, %v; want %s", tc.in, b, err, tc.out)
		}
	}
}
