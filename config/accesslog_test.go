package config

import (
	"errors"
	"strings"
	"testing"
)

// accessLogConfig is a valid config whose one listener has the given
// access_logs list.
func accessLogConfig(t *testing.T, logs string) *Config {
	t.Helper()
	in := `{"servers":[{"listeners":[{"name":"l","address":"0.0.0.0:8080","access_logs":` + logs + `,
		"filter_chains":[{"filters":[{"type":"proxy","config":{"downstream_protocol":"Http1","router_config_name":"r"}}]}]}],
		"routers":[{"router_config_name":"r","virtual_hosts":[{"name":"v","domains":["*"],
		"routers":[{"match":{"prefix":"/"},"route":{"cluster_name":"c"}}]}]}]}],
		"cluster_manager":{"clusters":[{"name":"c","hosts":[{"address":"127.0.0.1:9"}]}]}}`
	c := mustParseJSON(t, in)
	return c
}

// TestAccessLogs: access_logs validate without a warning (they are
// implemented), decode every key, and each mistake config can judge is
// an error at its path. log_format's variables are the build's to check
// (internal/app), as config imports no ferry package.
func TestAccessLogs(t *testing.T) {
	tests := []struct {
		name, logs string
		errs       []string // "path: message fragment", in order
	}{
		{name: "file and stdout", logs: `[{"log_path":"/var/log/ferry/access.log","log_format":"%start_time% %response_code%"},
			{"log_path":"stdout","log_encoding":"json"},{"log_path":"stderr","log_encoding":"text"}]`},
		{name: "missing path", logs: `[{"log_format":"%duration%"}]`,
			errs: []string{"servers[0].listeners[0].access_logs[0].log_path: required: a file, stdout or stderr"}},
		{name: "control character in path", logs: `[{"log_path":"a\nb.log"}]`,
			errs: []string{`servers[0].listeners[0].access_logs[0].log_path: control character in "a\nb.log"`}},
		{name: "unknown encoding", logs: `[{"log_path":"stdout"},{"log_path":"stdout","log_encoding":"xml"}]`,
			errs: []string{`servers[0].listeners[0].access_logs[1].log_encoding: unknown encoding "xml"; want text or json`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := accessLogConfig(t, tc.logs)
			for _, w := range c.Warnings() {
				if strings.Contains(w, "access_logs") {
					t.Errorf("warning %v: access_logs are implemented", w)
				}
			}
			err := c.Validate()
			if len(tc.errs) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Errors) != len(tc.errs) {
				t.Fatalf("Validate = %v, want %d errors %q", err, len(tc.errs), tc.errs)
			}
			for i, want := range tc.errs {
				if got := ve.Errors[i].Path + ": " + ve.Errors[i].Msg; !strings.HasPrefix(got, want) {
					t.Errorf("error %d = %q, want %q", i, got, want)
				}
			}
		})
	}
	c := accessLogConfig(t, `[{"log_path":"a.log","log_format":"%duration%","log_encoding":"json"}]`)
	if got := c.Servers[0].Listeners[0].AccessLogs; len(got) != 1 || got[0] != (AccessLog{Path: "a.log", Format: "%duration%", Encoding: "json"}) {
		t.Fatalf("decoded %+v", got)
	}
}
