package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Config is a whole configuration file: MOSN's v2 top level plus ferry's
// "ferry" block.
type Config struct {
	// Servers holds the one server: listeners, routers, logging. Required.
	Servers []Server `json:"servers,omitempty" yaml:"servers,omitempty"`
	// ClusterManager holds the upstream clusters.
	ClusterManager ClusterManager `json:"cluster_manager" yaml:"cluster_manager"`
	// Admin is where the admin API listens (see package admin).
	Admin *Admin `json:"admin,omitempty" yaml:"admin,omitempty" note:"the admin API (MOSN's /api/v1 paths, /ready, /live, /clusters, /listeners, /metrics, POST /drain_listeners); port_value 0 turns it off; a non-loopback address is warned about"`
	// PProf starts Go's pprof server.
	PProf *PProf `json:"pprof,omitempty" yaml:"pprof,omitempty" ferry:"observability" why:"Go profiling is not served from this block (FERRY_PPROF=host:port serves it today)" until:"admin API"`
	// Tracing configures distributed tracing.
	Tracing *Tracing `json:"tracing,omitempty" yaml:"tracing,omitempty" ferry:"observability" why:"no spans are recorded or exported" until:"tracing"`
	// Metrics configures metric sinks.
	Metrics *Metrics `json:"metrics,omitempty" yaml:"metrics,omitempty" note:"prometheus sinks, see Metrics below; the admin API's /metrics serves the same families"`
	// DynamicResources is the xDS bootstrap (ADS cluster), verbatim.
	DynamicResources json.RawMessage `json:"dynamic_resources,omitempty" yaml:"dynamic_resources,omitempty" ferry:"refused" why:"listeners, routes and clusters from the xDS control plane would never arrive" until:"xDS client"`
	// StaticResources is the xDS bootstrap's static part, verbatim.
	StaticResources json.RawMessage `json:"static_resources,omitempty" yaml:"static_resources,omitempty" ferry:"refused" why:"the xDS bootstrap clusters would not exist" until:"xDS client"`
	// CloseGraceful makes MOSN drain connections on stop.
	CloseGraceful bool `json:"close_graceful,omitempty" yaml:"close_graceful,omitempty" ferry:"ignored" why:"ferry always drains in-flight requests on SIGTERM/SIGINT (graceful_timeout, ferry.timeouts.drain), which is what true asks for"`
	// InheritOldMosnconfig takes the running MOSN's config on hot upgrade.
	InheritOldMosnconfig bool `json:"inherit_old_mosnconfig,omitempty" yaml:"inherit_old_mosnconfig,omitempty" ferry:"refused" why:"the new process would not take the running one's config: ferry's smooth upgrade hands over the listening sockets only, and the new process reads its own -c" until:"config inheritance"`
	// DisableUpgrade turns off the smooth upgrade (docs/upgrade.md): a new
	// ferry binds its own sockets and serves no reconfig.sock.
	DisableUpgrade bool `json:"disable_upgrade,omitempty" yaml:"disable_upgrade,omitempty" note:"turns off the smooth upgrade: no reconfig.sock is served, and a new ferry binds its own sockets (docs/upgrade.md)"`
	// Pid is the pid file path.
	Pid string `json:"pid,omitempty" yaml:"pid,omitempty" note:"written at start, removed at exit"`
	// UDSDir is the directory of the smooth upgrade's unix socket,
	// reconfig.sock; empty means the config file's directory.
	UDSDir string `json:"uds_dir,omitempty" yaml:"uds_dir,omitempty" note:"where reconfig.sock is served for the smooth upgrade; default: the config file's directory (docs/upgrade.md). MOSN's listen.sock and conn.sock are not used: live connections drain instead of moving"`
	// Plugin configures MOSN's plugin framework.
	Plugin *Plugin `json:"plugin,omitempty" yaml:"plugin,omitempty" ferry:"ignored" why:"the log directory of MOSN plugins; ferry loads no plugins"`
	// ThirdPartCodec loads protocol codecs at run time.
	ThirdPartCodec *ThirdPartCodecs `json:"third_part_codec,omitempty" yaml:"third_part_codec,omitempty" ferry:"refused" why:"the codecs it names would not be loaded and their protocols not served" until:"run-time codecs"`
	// Extends holds free-form extension configs.
	Extends []Extend `json:"extends,omitempty" yaml:"extends,omitempty" ferry:"refused" why:"the extensions it configures would not be loaded" until:"extensions"`
	// WasmGlobalPlugins loads WebAssembly plugins, verbatim.
	WasmGlobalPlugins json.RawMessage `json:"wasm_global_plugins,omitempty" yaml:"wasm_global_plugins,omitempty" ferry:"refused" why:"WebAssembly plugins would not run on requests" until:"WebAssembly plugins"`
	// ServiceRegistry is old MOSN's service registry config, verbatim.
	ServiceRegistry json.RawMessage `json:"service_registry,omitempty" yaml:"service_registry,omitempty" ferry:"refused" why:"clusters fed by the service registry would stay empty" until:"service registries"`
	// Ferry holds ferry's own settings.
	Ferry Ferry `json:"ferry" yaml:"ferry"`

	// notes are the warnings found while parsing (keys matched only
	// case-insensitively); Warnings adds those derived from the fields.
	notes []FieldError
}

// Format is a configuration file syntax.
type Format uint8

// Formats.
const (
	// FormatJSON is JSON (MOSN's format).
	FormatJSON Format = iota + 1
	// FormatYAML is YAML 1.2, mapped onto the same field names as JSON.
	FormatYAML
)

// String names the format. Any goroutine.
func (f Format) String() string {
	switch f {
	case FormatJSON:
		return "json"
	case FormatYAML:
		return "yaml"
	}
	return "Format(" + fmt.Sprint(uint8(f)) + ")"
}

// FormatOf picks the format from a file name's extension: .json, .yaml or
// .yml (case-insensitive). Any goroutine.
func FormatOf(path string) (Format, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		return FormatJSON, nil
	case ".yaml", ".yml":
		return FormatYAML, nil
	}
	return 0, fmt.Errorf("%w: %q", ErrUnknownFormat, path)
}

// Load reads and parses the file at path, choosing the format by its
// extension. See Parse. Any goroutine.
func Load(path string) (*Config, error) {
	format, err := FormatOf(path)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(data, format)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse decodes data in the given format, checks every key and value type
// against the schema, and applies defaults. Syntax errors name the line;
// schema problems come back together as a *ValidationError, each with its
// full path. Parse does not call Validate. Any goroutine.
func Parse(data []byte, format Format) (*Config, error) {
	var (
		tree *node
		err  error
	)
	switch format {
	case FormatJSON:
		tree, err = parseJSONTree(data)
	case FormatYAML:
		tree, err = parseYAMLTree(data)
	default:
		return nil, ErrUnknownFormat
	}
	if err != nil {
		return nil, err
	}
	if tree.kind != kindObject {
		return nil, &ValidationError{Errors: []FieldError{{Msg: "top level must be an object, got " + tree.kind.String()}}}
	}
	s := schemaChecker{}
	s.check(tree, typeOfConfig(), "")
	if err := s.problems.err(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	encodeJSON(&buf, tree)
	c := &Config{}
	if err := json.Unmarshal(buf.Bytes(), c); err != nil {
		// The schema check accepts only what decodes; reaching here is a bug
		// in it, reported rather than hidden.
		return nil, fmt.Errorf("config: decode: %w", err)
	}
	c.notes = s.notes
	c.ApplyDefaults()
	return c, nil
}

// ApplyDefaults fills the zero fields that have defaults: the whole ferry
// block (see Ferry.WithDefaults), cluster type SIMPLE, lb_type
// LB_ROUNDROBIN and redirect code 301. It is idempotent, and Parse calls
// it; callers building a Config in code call it before Validate.
// Control goroutine, with exclusive access to c.
func (c *Config) ApplyDefaults() {
	c.Ferry = c.Ferry.WithDefaults()
	for i := range c.ClusterManager.Clusters {
		cl := &c.ClusterManager.Clusters[i]
		def(&cl.Type, ClusterSimple)
		def(&cl.LBType, LBRoundRobin)
	}
	for si := range c.Servers {
		for ri := range c.Servers[si].Routers {
			for vi := range c.Servers[si].Routers[ri].VirtualHosts {
				vh := &c.Servers[si].Routers[ri].VirtualHosts[vi]
				for i := range vh.Routers {
					if r := vh.Routers[i].Redirect; r != nil {
						def(&r.ResponseCode, 301)
					}
				}
			}
		}
	}
}

// Warnings lists what ferry runs without, one line each, naming the path:
// observability fields not implemented yet, refused fields and values that
// ferry.compat.allow_unimplemented lets through, keys that matched a field
// only case-insensitively, and settings ferry serves differently from MOSN.
// Fields ferry ignores because they are harmless are not listed (see
// docs/mosn-compat.md). A config with warnings runs; callers log them at
// start-up. Any goroutine.
func (c *Config) Warnings() []string {
	all := append([]FieldError(nil), c.notes...)
	_, warns := compatFindings(c)
	all = append(all, warns...)
	all = append(all, semanticWarnings(c)...)
	sortBySchema(all)
	out := make([]string, len(all))
	for i, w := range all {
		out[i] = w.String()
	}
	return out
}
