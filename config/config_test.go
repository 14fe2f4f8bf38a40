package config

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestFormatOf(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		want    Format
		wantErr bool
	}{
		{name: "json", path: "/etc/ferry/ferry.json", want: FormatJSON},
		{name: "yaml", path: "ferry.yaml", want: FormatYAML},
		{name: "yml", path: "ferry.yml", want: FormatYAML},
		{name: "upper case", path: "FERRY.JSON", want: FormatJSON},
		{name: "toml", path: "ferry.toml", wantErr: true},
		{name: "no extension", path: "ferry", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FormatOf(tc.path)
			if tc.wantErr {
				if !errors.Is(err, ErrUnknownFormat) {
					t.Fatalf("err = %v, want ErrUnknownFormat", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("FormatOf(%q) = %v, %v; want %v", tc.path, got, err, tc.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"servers": [], "nope": 1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		path    string
		wantIs  error
		wantSub string
	}{
		{name: "valid json", path: "testdata/valid/default.json"},
		{name: "valid yaml", path: "testdata/valid/default.yaml"},
		{name: "unknown extension", path: "ferry.toml", wantIs: ErrUnknownFormat},
		{name: "missing file", path: filepath.Join(dir, "missing.json"), wantIs: fs.ErrNotExist},
		{name: "schema error names the file", path: bad, wantSub: bad + ": nope: unknown field"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(tc.path)
			switch {
			case tc.wantIs != nil:
				if !errors.Is(err, tc.wantIs) {
					t.Fatalf("err = %v, want %v", err, tc.wantIs)
				}
			case tc.wantSub != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantSub) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantSub)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if err := c.Validate(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestParseUnknownFormat(t *testing.T) {
	if _, err := Parse([]byte(`{}`), Format(9)); !errors.Is(err, ErrUnknownFormat) {
		t.Fatalf("err = %v, want ErrUnknownFormat", err)
	}
	if s := Format(9).String(); s != "Format(9)" {
		t.Errorf("String() = %q", s)
	}
}

// TestYAMLJSONEquivalence parses the same document written in YAML and in
// JSON and requires identical configs.
func TestYAMLJSONEquivalence(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		json string
	}{
		{
			name: "lead default",
			yaml: mustRead(t, "testdata/valid/default.yaml"),
			json: mustRead(t, "testdata/valid/default.json"),
		},
		{
			name: "scalars",
			yaml: "ferry:\n  event_loops: 0x10\n  reuse_port: true\n  max_connections: 1_000\n" +
				"  timeouts: {idle: 1m, drain: 0}\n  proxy: {via: \"8080\", xff: 'off'}\n  buffers: {spill_dir: ~}\n",
			json: `{"ferry":{"event_loops":16,"reuse_port":true,"max_connections":1000,` +
				`"timeouts":{"idle":"1m","drain":0},"proxy":{"via":"8080","xff":"off"},"buffers":{"spill_dir":null}}}`,
		},
		{
			name: "timestamps stay strings",
			yaml: "servers: [{default_log_path: 2024-01-02}]\n",
			json: `{"servers":[{"default_log_path":"2024-01-02"}]}`,
		},
		{
			name: "raw filter config",
			yaml: "servers: [{listeners: [{filter_chains: [{filters: [{type: custom_filter, config: {cluster: c, n: 1.5}}]}]}]}]\n",
			json: `{"servers":[{"listeners":[{"filter_chains":[{"filters":[{"type":"custom_filter","config":{"cluster":"c","n":1.5}}]}]}]}]}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			y, err := Parse([]byte(tc.yaml), FormatYAML)
			if err != nil {
				t.Fatalf("yaml: %v", err)
			}
			j := mustParseJSON(t, tc.json)
			if yj, jj := mustMarshal(t, y), mustMarshal(t, j); yj != jj {
				t.Errorf("configs differ\nyaml: %s\njson: %s", yj, jj)
			}
		})
	}
}

// TestUnknownFieldsAll checks that every unknown field is reported, with
// its full path, not only the first.
//
//nolint:misspell // the misspelt field names are the test's input
func TestUnknownFieldsAll(t *testing.T) {
	in := `{"servers":[{"listeners":[{"filter_chains":[{"filters":[{"type":"proxy",
		"config":{"router_confg_name":"r","downstream_protocl":"Http1"}}]}],"adress":"x"}]}],"clusterManager":{}}`
	_, err := Parse([]byte(in), FormatJSON)
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want *ValidationError", err)
	}
	want := []FieldError{
		{Path: "servers[0].listeners[0].filter_chains[0].filters[0].config.router_confg_name", Msg: "unknown field"},
		{Path: "servers[0].listeners[0].filter_chains[0].filters[0].config.downstream_protocl", Msg: "unknown field"},
		{Path: "servers[0].listeners[0].adress", Msg: "unknown field"},
		{Path: "clusterManager", Msg: "unknown field"},
	}
	if !reflect.DeepEqual(ve.Errors, want) {
		t.Errorf("errors:\n got %v\nwant %v", ve.Errors, want)
	}
	if lines := strings.Split(err.Error(), "\n"); len(lines) != len(want) {
		t.Errorf("Error() has %d lines, want %d:\n%s", len(lines), len(want), err)
	}
}

func TestValidationErrorFormat(t *testing.T) {
	err := &ValidationError{Errors: []FieldError{
		{Path: "a.b", Msg: "required"},
		{Msg: "document problem"},
	}}
	if got, want := err.Error(), "a.b: required\ndocument problem"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestDurationJSON(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    time.Duration
		wantErr bool
	}{
		{name: "seconds", in: `"15s"`, want: 15 * time.Second},
		{name: "milliseconds", in: `"500ms"`, want: 500 * time.Millisecond},
		{name: "compound", in: `"1m30s"`, want: 90 * time.Second},
		{name: "string zero", in: `"0"`, want: 0},
		{name: "bare zero as in MOSN", in: `0`, want: 0},
		{name: "null keeps value", in: `null`, want: 7},
		{name: "bare number rejected as in MOSN", in: `15`, wantErr: true},
		{name: "empty string rejected as in MOSN", in: `""`, wantErr: true},
		{name: "no unit", in: `"15"`, wantErr: true},
		{name: "garbage", in: `"soon"`, wantErr: true},
		{name: "bool", in: `true`, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Duration(7)
			err := json.Unmarshal([]byte(tc.in), &d)
			if tc.wantErr != (err != nil) {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err == nil && d.Std() != tc.want {
				t.Errorf("got %v, want %v", d.Std(), tc.want)
			}
		})
	}
	b, err := json.Marshal(Duration(1500 * time.Millisecond))
	if err != nil || string(b) != `"1.5s"` {
		t.Errorf("Marshal = %s, %v", b, err)
	}
}

func TestProcessorJSON(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Processor
		out     string
		wantErr bool
	}{
		{name: "number", in: `4`, want: Processor{N: 4}, out: `4`},
		{name: "auto", in: `"auto"`, want: Processor{Auto: true}, out: `"auto"`},
		{name: "numeric string", in: `"8"`, want: Processor{N: 8}, out: `8`},
		{name: "negative", in: `-1`, wantErr: true},
		{name: "word", in: `"all"`, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p Processor
			err := json.Unmarshal([]byte(tc.in), &p)
			if tc.wantErr != (err != nil) {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if p != tc.want {
				t.Errorf("got %+v, want %+v", p, tc.want)
			}
			if b, _ := json.Marshal(p); string(b) != tc.out {
				t.Errorf("Marshal = %s, want %s", b, tc.out)
			}
		})
	}
}

func TestFerryDefaults(t *testing.T) {
	want := Ferry{
		Scheduler: Scheduler{Policy: PolicyAuto, Queue: 1024},
		HTTP1: HTTP1{
			MaxRequestLineBytes: 8192, MaxHeaderBytes: 32768, MaxHeaders: 100,
			MaxPipelinedBytes: 1048576,
		},
		Timeouts: Timeouts{
			RequestHeader: Duration(10 * time.Second), RequestBody: Duration(60 * time.Second),
			Idle: Duration(75 * time.Second), Drain: Duration(15 * time.Second),
			LingeringClose: Duration(5 * time.Second), TLSHandshake: Duration(10 * time.Second),
		},
		Buffers: Buffers{WriteHighWatermark: 32768, WriteLowWatermark: 8192, SpillMemoryBytes: 65536,
			BacklogMemoryBytes: 268435456, SpillDiskBytes: 4 << 30},
		Proxy: ProxyHeaders{XFF: XFFAppend},
	}
	if got := (Ferry{}).WithDefaults(); got != want {
		t.Errorf("defaults:\n got %+v\nwant %+v", got, want)
	}
	set := Ferry{Scheduler: Scheduler{Policy: PolicyPool, Workers: 3}, Proxy: ProxyHeaders{XFF: XFFOff}}.WithDefaults()
	if set.Scheduler.Policy != PolicyPool || set.Scheduler.Workers != 3 || set.Proxy.XFF != XFFOff {
		t.Errorf("explicit values were replaced: %+v", set)
	}
	tests := []struct {
		name       string
		f          Ferry
		procs      int
		wantLoops  int
		wantWorker int
	}{
		{name: "derived", procs: 4, wantLoops: 4, wantWorker: 512},
		{name: "explicit", f: Ferry{EventLoops: 2, Scheduler: Scheduler{Workers: 10}}, procs: 4, wantLoops: 2, wantWorker: 10},
		{name: "zero procs", procs: 0, wantLoops: 1, wantWorker: 128},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.f.EventLoopCount(tc.procs); got != tc.wantLoops {
				t.Errorf("EventLoopCount = %d, want %d", got, tc.wantLoops)
			}
			if got := tc.f.Scheduler.WorkerCount(tc.procs); got != tc.wantWorker {
				t.Errorf("WorkerCount = %d, want %d", got, tc.wantWorker)
			}
		})
	}
}

// TestProgrammaticConfig builds a config in code, as tests of other
// packages will, and runs it through ApplyDefaults and Validate.
func TestProgrammaticConfig(t *testing.T) {
	c := &Config{
		Servers: []Server{{
			Routers: []RouterConfig{{
				RouterConfigName: "r",
				VirtualHosts: []VirtualHost{{Name: "all", Domains: []string{"*"}, Routers: []Route{
					{Match: RouteMatch{Prefix: "/old"}, Redirect: &Redirect{PathRedirect: "/new"}},
					{Match: RouteMatch{Prefix: "/"}, Route: &RouteAction{ClusterName: "c"}},
				}}},
			}},
			Listeners: []Listener{{Name: "l", Address: "127.0.0.1:0", FilterChains: []FilterChain{{
				Filters: []NetworkFilter{{Type: ProxyFilterType, Proxy: &ProxyConfig{
					DownstreamProtocol: "Http1", RouterConfigName: "r",
				}}},
			}}}},
		}},
		ClusterManager: ClusterManager{Clusters: []Cluster{{Name: "c", Hosts: []Host{{Address: "127.0.0.1:9"}}}}},
	}
	c.ApplyDefaults()
	c.ApplyDefaults() // idempotent
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if w := c.Warnings(); len(w) != 0 {
		t.Errorf("warnings: %q", w)
	}
	cl := c.ClusterManager.Clusters[0]
	if cl.Type != ClusterSimple || cl.LBType != LBRoundRobin || cl.Hosts[0].EffectiveWeight() != 1 {
		t.Errorf("cluster defaults: %+v", cl)
	}
	if code := c.Servers[0].Routers[0].VirtualHosts[0].Routers[0].Redirect.ResponseCode; code != 301 {
		t.Errorf("redirect code = %d, want 301", code)
	}
	if !c.Servers[0].Listeners[0].Binds() {
		t.Error("Binds() = false for absent bind_port")
	}
}

// TestNetworkFilterConfig checks that a proxy filter's config is typed and
// any other filter's config is kept verbatim.
func TestNetworkFilterConfig(t *testing.T) {
	in := `{"servers":[{"listeners":[{"filter_chains":[{"filters":[
		{"type":"tcp_proxy","config":{"cluster":"c","routes":[{"cluster":"c"}]}},
		{"type":"proxy","config":{"router_config_name":"r","extend_config":{"sub_protocol":"bolt"}}}]}]}]}]}`
	c := mustParseJSON(t, in)
	fs := c.Servers[0].Listeners[0].FilterChains[0].Filters
	if fs[0].Proxy != nil || string(fs[0].Config) != `{"cluster":"c","routes":[{"cluster":"c"}]}` {
		t.Errorf("tcp_proxy = %+v (config %s)", fs[0], fs[0].Config)
	}
	if fs[1].Proxy == nil || fs[1].Proxy.RouterConfigName != "r" || string(fs[1].Proxy.ExtendConfig) != `{"sub_protocol":"bolt"}` {
		t.Errorf("proxy = %+v", fs[1].Proxy)
	}
}

// TestRoundTrip checks that marshalling a parsed config and parsing the
// result is a fixed point, so config dumps can be reloaded.
func TestRoundTrip(t *testing.T) {
	files, err := filepath.Glob("testdata/*/*.json")
	if err != nil {
		t.Fatal(err)
	}
	yamls, err := filepath.Glob("testdata/*/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range append(files, yamls...) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			c, err := Load(file)
			if err != nil {
				t.Fatal(err)
			}
			first := mustMarshal(t, c)
			again := mustParseJSON(t, first)
			if second := mustMarshal(t, again); second != first {
				t.Errorf("not a fixed point\nfirst:  %s\nsecond: %s", first, second)
			}
		})
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustMarshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAdminBlock: the admin address validates and AdminAddress derives
// host:port (empty address is loopback; port 0 turns the API off).
func TestAdminBlock(t *testing.T) {
	mk := func(addr string, port uint32) *Config {
		c := &Config{Admin: &Admin{Address: &AdminAddress{SocketAddress: SocketAddress{Address: addr, PortValue: port}}}}
		return c
	}
	if got := mk("", 34901).AdminAddress(); got != "127.0.0.1:34901" {
		t.Errorf("AdminAddress = %q", got)
	}
	if got := mk("0.0.0.0", 0).AdminAddress(); got != "" {
		t.Errorf("port 0: AdminAddress = %q, want off", got)
	}
	if got := (&Config{}).AdminAddress(); got != "" {
		t.Errorf("no admin block: AdminAddress = %q", got)
	}
	v := validator{c: mk("localhost", 70000)}
	v.admin()
	if len(v.p.list) != 2 || v.p.list[0].Path != "admin.address.socket_address.address" ||
		v.p.list[1].Path != "admin.address.socket_address.port_value" {
		t.Errorf("problems %v", v.p.list)
	}
}

// TestRedacted: private keys and ticket keys are hidden wherever a TLS
// context appears, and the original is untouched.
func TestRedacted(t *testing.T) {
	c := &Config{
		Servers: []Server{{Listeners: []Listener{{FilterChains: []FilterChain{{
			TLSContext:    &TLSConfig{PrivateKey: "k1", CertChain: "cert"},
			TLSContextSet: []TLSConfig{{PrivateKey: "k2", Ticket: "t2"}},
		}}}}}},
		ClusterManager: ClusterManager{TLSContext: &UpstreamTLSConfig{PrivateKey: "k3"},
			Clusters: []Cluster{{Name: "c", TLSContext: &UpstreamTLSConfig{PrivateKey: "k4"}}}},
	}
	r := c.Redacted()
	fc := r.Servers[0].Listeners[0].FilterChains[0]
	for i, got := range []string{fc.TLSContext.PrivateKey, fc.TLSContextSet[0].PrivateKey, fc.TLSContextSet[0].Ticket,
		r.ClusterManager.TLSContext.PrivateKey, r.ClusterManager.Clusters[0].TLSContext.PrivateKey} {
		if got != "[redacted]" {
			t.Errorf("secret %d = %q", i, got)
		}
	}
	if fc.TLSContext.CertChain != "cert" || c.Servers[0].Listeners[0].FilterChains[0].TLSContext.PrivateKey != "k1" {
		t.Error("Redacted changed a public field or the original")
	}
}

func TestAccessors(t *testing.T) {
	protos := []struct {
		name           string
		down, up       string
		wantDn, wantUp string
	}{
		{name: "explicit", down: "Http1", up: "Http1", wantDn: "Http1", wantUp: "Http1"},
		{name: "h2c", down: "Http2", wantDn: "Http2", wantUp: "Http1"},
		{name: "empty", wantDn: "Auto", wantUp: "Http1"},
		{name: "auto", down: "Auto", up: "Auto", wantDn: "Auto", wantUp: "Http1"},
	}
	for _, tc := range protos {
		t.Run("protocols "+tc.name, func(t *testing.T) {
			p := ProxyConfig{DownstreamProtocol: tc.down, UpstreamProtocol: tc.up}
			if dn, up := p.Protocols(); dn != tc.wantDn || up != tc.wantUp {
				t.Errorf("Protocols() = %s, %s; want %s, %s", dn, up, tc.wantDn, tc.wantUp)
			}
		})
	}
	ninety := Duration(90 * time.Second)
	idle := []struct {
		name string
		l    Listener
		f    Ferry
		want time.Duration
	}{
		{name: "ferry default", want: 75 * time.Second},
		{name: "ferry block", f: Ferry{Timeouts: Timeouts{Idle: Duration(time.Minute)}}, want: time.Minute},
		{name: "listener override", l: Listener{ConnectionIdleTimeout: &ninety}, want: 90 * time.Second},
	}
	for _, tc := range idle {
		t.Run("idle "+tc.name, func(t *testing.T) {
			if got := tc.l.IdleTimeout(&tc.f); got != tc.want {
				t.Errorf("IdleTimeout = %v, want %v", got, tc.want)
			}
		})
	}
	drain := []struct {
		name string
		c    Config
		want time.Duration
	}{
		{name: "default", want: 15 * time.Second},
		{name: "graceful_timeout", c: Config{Servers: []Server{{GracefulTimeout: Duration(time.Second)}}}, want: time.Second},
		{name: "ferry drain", c: Config{Ferry: Ferry{Timeouts: Timeouts{Drain: Duration(time.Minute)}}}, want: time.Minute},
	}
	for _, tc := range drain {
		t.Run("drain "+tc.name, func(t *testing.T) {
			if got := tc.c.DrainTimeout(); got != tc.want {
				t.Errorf("DrainTimeout = %v, want %v", got, tc.want)
			}
		})
	}
}

// mustParseJSON parses a JSON config, failing the test if it does not.
func mustParseJSON(t *testing.T, in string) *Config {
	t.Helper()
	c, err := Parse([]byte(in), FormatJSON)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return c
}
