// Command ferry is the ferry proxy.
//
//	ferry start [-c FILE]     run (the embedded default config without -c)
//	ferry -c FILE             same as start
//	ferry validate -c FILE    check a config and exit
//	ferry version             print the version
//
// SIGINT or SIGTERM drains in-flight requests up to the drain timeout and
// exits 0. If the event engine stops on its own, ferry says why and exits 1.
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
	"strings"
	"syscall"

	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/configs"
	"github.com/ferry-proxy/ferry/internal/app"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev" //nolint:gochecknoglobals // set by the linker

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "start"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("ferry "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "", "configuration file (JSON or YAML, MOSN v2 format); the embedded default when empty")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	switch cmd {
	case "version":
		fmt.Fprintf(stdout, "ferry %s\n", version)
		return 0
	case "validate":
		cfg, err := load(*path)
		if err != nil {
			fmt.Fprintf(stderr, "ferry: invalid configuration:\n%v\n", err)
			return 1
		}
		printWarnings(stderr, cfg)
		fmt.Fprintln(stdout, "ferry: configuration is valid")
		return 0
	case "start":
		return start(*path, stderr)
	}
	fmt.Fprintf(stderr, "ferry: unknown command %q (want start, validate or version)\n", cmd)
	return 2
}

// load reads, parses and validates a configuration.
func load(path string) (*config.Config, error) {
	var (
		cfg *config.Config
		err error
	)
	if path == "" {
		cfg, err = config.Parse(configs.Default, config.FormatJSON)
	} else {
		cfg, err = config.Load(path)
	}
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func printWarnings(w io.Writer, cfg *config.Config) {
	for _, warn := range cfg.Warnings() {
		fmt.Fprintf(w, "ferry: warning: %s\n", warn)
	}
}

func start(path string, stderr io.Writer) int {
	cfg, err := load(path)
	if err != nil {
		fmt.Fprintf(stderr, "ferry: invalid configuration:\n%v\n", err)
		return 1
	}
	log, closeLog, err := newLogger(cfg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "ferry: %v\n", err)
		return 1
	}
	defer closeLog()
	printWarnings(stderr, cfg)
	startPprof(log)
	a, err := app.New(cfg, app.Options{Logger: log, Filters: registry()})
	if err != nil {
		fmt.Fprintf(stderr, "ferry: %v\n", err)
		return 1
	}
	if err := a.Start(); err != nil {
		fmt.Fprintf(stderr, "ferry: %v\n", err)
		return 1
	}
	fmt.Fprintln(stderr, a.Describe())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	select {
	case sig := <-sigs:
		log.Info("draining", "signal", sig.String(), "in_flight", a.Server().Stats().Active())
		if err := a.Shutdown(context.Background()); err != nil {
			log.Warn("shutdown", "err", err)
		}
		log.Info("stopped")
		return 0
	case <-a.Done():
		err := a.Err()
		if err == nil {
			err = errors.New("event engine stopped")
		}
		fmt.Fprintf(stderr, "ferry: %v\n", err)
		return 1
	}
}

// newLogger builds the logger from servers[0].default_log_path and
// default_log_level.
func newLogger(cfg *config.Config, stderr io.Writer) (*slog.Logger, func(), error) {
	level := slog.LevelInfo
	out, closer := stderr, func() {}
	if len(cfg.Servers) > 0 {
		s := cfg.Servers[0]
		switch strings.ToUpper(s.DefaultLogLevel) {
		case "TRACE", "DEBUG":
			level = slog.LevelDebug
		case "WARN":
			level = slog.LevelWarn
		case "ERROR", "FATAL":
			level = slog.LevelError
		}
		switch s.DefaultLogPath {
		case "", "stderr":
		case "stdout":
			out = os.Stdout
		default:
			f, err := os.OpenFile(s.DefaultLogPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
			if err != nil {
				return nil, nil, fmt.Errorf("servers[0].default_log_path: %w", err)
			}
			out, closer = f, func() { _ = f.Close() }
		}
	}
	return slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: level})), closer, nil
}
