// Command ferry is the ferry proxy.
//
//	ferry start [-c FILE] [--allow-unimplemented] [--disable-upgrade]  run (the embedded default config without -c)
//	ferry -c FILE                                     same as start
//	ferry validate -c FILE [--allow-unimplemented]    check a config and exit
//	ferry version                                     print the version
//
// validate runs everything start runs up to opening sockets: it parses and
// validates the config, then builds the whole application (routes,
// clusters, balancers, filters, limits) and releases it. What start
// refuses, validate refuses with the same message; both exit 1 naming the
// path. A field ferry does not implement but that changes how traffic is
// served is refused unless --allow-unimplemented (or
// ferry.compat.allow_unimplemented) turns it into a warning; a TLS context
// with status true is refused regardless (see docs/mosn-compat.md).
//
// SIGHUP re-reads the config file and swaps its routes and clusters (see
// internal/app/reload.go); a reload that fails or changes anything else is
// refused, logged and counted, and the running config keeps serving.
// SIGUSR1 reopens the access log files (docs/operations.md). SIGINT or
// SIGTERM closes the listening sockets, closes keep-alive connections
// between requests, lets in-flight requests finish up to the drain
// timeout and exits 0; a second one exits at once. If the event engine
// stops on its own, ferry says why and exits 1.
//
// start first asks a running ferry (reconfig.sock in uds_dir) for its
// listening sockets, serves them, and lets the old one drain: a smooth
// upgrade (docs/upgrade.md, upgrade.go); --disable-upgrade or
// disable_upgrade: true turns it off.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	_ "embed" // the default configuration

	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/internal/app"
	"github.com/ferry-proxy/ferry/internal/upgrade"
)

// defaultConfig is used when ferry starts without -c: a listener on
// 127.0.0.1:8080 in front of the demo upstream on 127.0.0.1:8081 (make run
// starts both).
//
//go:embed default.json
var defaultConfig []byte

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	return runUntil(args, stdout, stderr, nil)
}

// runUntil is run; a started ferry also drains and exits 0 when stop is
// closed, as on SIGTERM (tests stop it so; nil never stops).
func runUntil(args []string, stdout, stderr io.Writer, stop <-chan struct{}) int {
	cmd := "start"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("ferry "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "", "configuration file (JSON or YAML, MOSN v2 format); the embedded default when empty")
	allow := fs.Bool("allow-unimplemented", false, "run without MOSN settings ferry does not implement, warning about each, "+
		"instead of refusing them (a TLS context with status true is refused all the same)")
	var lo logOptions
	noUpgrade := fs.Bool("disable-upgrade", false, "start without taking the listening sockets of a running ferry "+
		"(as disable_upgrade: true); its ports must then be free or shared with reuse_port")
	fs.StringVar(&lo.level, "log-level", "", "log level: debug, info, warn or error (over servers[0].default_log_level)")
	fs.StringVar(&lo.format, "log-format", "text", "log format: text or json")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	switch cmd {
	case "version":
		v := app.BuildVersion(version)
		fmt.Fprintf(stdout, "ferry %s", v.Version)
		if v.Revision != "" {
			fmt.Fprintf(stdout, " (%s)", v.Revision)
		}
		fmt.Fprintf(stdout, " %s\n", v.Go)
		return 0
	case "validate":
		a, err := prepare(*path, *allow, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "ferry: invalid configuration:\n%v\n", err)
			return 1
		}
		if err := a.Close(); err != nil {
			fmt.Fprintf(stderr, "ferry: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, "ferry: configuration is valid")
		return 0
	case "start":
		return start(*path, *allow, *noUpgrade, lo, stderr, stop)
	}
	fmt.Fprintf(stderr, "ferry: unknown command %q (want start, validate or version)\n", cmd)
	return 2
}

// load reads, parses and validates a configuration; allow sets
// ferry.compat.allow_unimplemented.
func load(path string, allow bool) (*config.Config, error) {
	var (
		cfg *config.Config
		err error
	)
	if path == "" {
		cfg, err = config.Parse(defaultConfig, config.FormatJSON)
	} else {
		cfg, err = config.Load(path)
	}
	if err != nil {
		return nil, err
	}
	if allow {
		cfg.Ferry.Compat.AllowUnimplemented = true
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// prepare is all that validate does, and all that start does before
// opening sockets (start also applies processor and opens the log first,
// and so calls load and build itself): load and validate the config, then
// build the application and print what it runs without.
func prepare(path string, allow bool, stderr io.Writer) (*app.App, error) {
	cfg, err := load(path, allow)
	if err != nil {
		return nil, err
	}
	return build(cfg, stderr, quietLogger(), nil, nil)
}

// build builds the application from a validated config (routes, clusters,
// balancers, filters, limits) and prints the config's and the build's
// warnings. The caller starts or closes the App.
func build(cfg *config.Config, stderr io.Writer, log *slog.Logger, level *slog.LevelVar,
	reload func() (*config.Config, error), inherit ...upgrade.Listener) (*app.App, error) {
	a, err := app.New(cfg, app.Options{Logger: log, Filters: registry(), LogLevel: level, Version: version, Load: reload,
		Inherit: inherit})
	if err != nil {
		return nil, err
	}
	for _, w := range append(cfg.Warnings(), a.Warnings()...) {
		fmt.Fprintf(stderr, "ferry: warning: %s\n", w)
	}
	return a, nil
}

// quietLogger discards logs: validate reports through its exit code,
// stdout and stderr only.
func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func start(path string, allow, noUpgrade bool, lo logOptions, stderr io.Writer, stop <-chan struct{}) int {
	cfg, err := load(path, allow)
	if err != nil {
		fmt.Fprintf(stderr, "ferry: invalid configuration:\n%v\n", err)
		return 1
	}
	setProcessors(cfg)
	log, level, closeLog, err := newLogger(cfg, lo, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "ferry: %v\n", err)
		return 1
	}
	defer closeLog()
	up, code := takeOver(cfg, path, noUpgrade, log, stderr)
	if code != 0 {
		return code
	}
	a, err := build(cfg, stderr, log, level, func() (*config.Config, error) { return load(path, allow) }, up.listeners()...)
	if err != nil {
		up.abort()
		fmt.Fprintf(stderr, "ferry: invalid configuration:\n%v\n", err)
		return 1
	}
	startPprof(log)
	if err := a.Start(); err != nil {
		up.abort()
		fmt.Fprintf(stderr, "ferry: %v\n", err)
		return 1
	}
	up.ready(log)
	handedOver, closeUpgrade, err := serveUpgrade(a, up, log)
	if err != nil {
		fmt.Fprintf(stderr, "ferry: %v\n", err)
		_ = a.Shutdown(context.Background())
		return 1
	}
	defer closeUpgrade()
	removePid, err := writePid(cfg.Pid)
	if err != nil {
		fmt.Fprintf(stderr, "ferry: %v\n", err)
		_ = a.Shutdown(context.Background())
		return 1
	}
	defer removePid()
	fmt.Fprintln(stderr, a.Describe())
	a.LogSummary()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	var why string
	for why == "" {
		select {
		case <-hup:
			// Errors are logged, counted and shown at /api/v1/states; the
			// running config keeps serving.
			_ = a.ReloadFromSource()
		case <-usr1:
			// After logrotate renamed the files (docs/operations.md);
			// failures are logged, and lines dropped and counted.
			_ = a.ReopenAccessLogs()
		case sig := <-sigs:
			why = sig.String()
		case <-stop:
			why = "stop"
		case <-a.DrainRequested():
			why = "admin drain_listeners"
		case <-handedOver:
			why = "smooth upgrade: a new ferry took the listeners over"
		case <-a.Done():
			err := a.Err()
			if err == nil {
				err = errors.New("event engine stopped")
			}
			fmt.Fprintf(stderr, "ferry: %v\n", err)
			return 1
		}
	}
	closeUpgrade() // a draining ferry has nothing to hand over
	log.Info("draining", "signal", why, "in_flight", a.Server().Stats().Active())
	done := make(chan error, 1)
	go func() { done <- a.Shutdown(context.Background()) }()
	// A drain that no signal began (a smooth upgrade, the admin API) takes
	// the first signal as the stop it already is.
	signalled := strings.HasPrefix(why, "SIG") || why == "interrupt" || why == "terminated"
	for {
		select {
		case err := <-done:
			if err != nil {
				log.Warn("shutdown", "err", err)
			}
			log.Info("stopped")
			return 0
		case sig := <-sigs:
			if !signalled {
				signalled = true
				log.Info("already draining; a second signal exits at once", "signal", sig.String())
				continue
			}
			// A second signal: the operator wants out now, drained or not.
			fmt.Fprintf(stderr, "ferry: %s during the drain: exiting at once\n", sig)
			return 1
		}
	}
}

// setProcessors applies servers[0].processor (MOSN's GOMAXPROCS setting): a
// number sets it; "auto" keeps Go's default, which already follows the
// container's CPU quota.
func setProcessors(cfg *config.Config) {
	if len(cfg.Servers) > 0 && cfg.Servers[0].Processor.N > 0 {
		runtime.GOMAXPROCS(cfg.Servers[0].Processor.N)
	}
}

// writePid writes the process id to path (MOSN's top-level "pid"), and
// returns the function that removes it at exit unless another process
// (the ferry an upgrade handed over to) wrote its own since. An empty
// path writes nothing.
func writePid(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil { // a pid file is world-readable, as MOSN's
		return nil, fmt.Errorf("pid: %w", err)
	}
	return func() {
		// After a smooth upgrade the file is the new process's: leave it.
		if b, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(os.Getpid()) {
			_ = os.Remove(path)
		}
	}, nil
}

// logOptions are the --log-level and --log-format flags.
type logOptions struct {
	// level overrides servers[0].default_log_level when set.
	level string
	// format is "text" or "json".
	format string
}

// parseLevel maps MOSN's and slog's level names to a level.
func parseLevel(name string) (slog.Level, bool) {
	switch strings.ToUpper(name) {
	case "", "INFO":
		return slog.LevelInfo, true
	case "TRACE", "DEBUG":
		return slog.LevelDebug, true
	case "WARN", "WARNING":
		return slog.LevelWarn, true
	case "ERROR", "FATAL":
		return slog.LevelError, true
	}
	return 0, false
}

// newLogger builds the logger from servers[0].default_log_path and
// default_log_level (MOSN's), with --log-level and --log-format over them.
// The level is a LevelVar that the admin API's update_loglevel changes.
func newLogger(cfg *config.Config, lo logOptions, stderr io.Writer) (*slog.Logger, *slog.LevelVar, func(), error) {
	lv := new(slog.LevelVar)
	out, closer := stderr, func() {}
	name := lo.level
	if len(cfg.Servers) > 0 {
		s := cfg.Servers[0]
		if name == "" {
			name = s.DefaultLogLevel
		}
		switch s.DefaultLogPath {
		case "", "stderr":
		case "stdout":
			out = os.Stdout
		default:
			f, err := os.OpenFile(s.DefaultLogPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644) // a log file is world-readable, as MOSN's
			if err != nil {
				return nil, nil, nil, fmt.Errorf("servers[0].default_log_path: %w", err)
			}
			out, closer = f, func() { _ = f.Close() }
		}
	}
	level, ok := parseLevel(name)
	if !ok {
		closer()
		return nil, nil, nil, fmt.Errorf("--log-level: unknown level %q; want debug, info, warn or error", name)
	}
	lv.Set(level)
	opts := &slog.HandlerOptions{Level: lv}
	switch lo.format {
	case "", "text":
		return slog.New(slog.NewTextHandler(out, opts)), lv, closer, nil
	case "json":
		return slog.New(slog.NewJSONHandler(out, opts)), lv, closer, nil
	}
	closer()
	return nil, nil, nil, fmt.Errorf("--log-format: unknown format %q; want text or json", lo.format)
}
