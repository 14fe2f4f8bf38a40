package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "forwarder:", err)
		os.Exit(1)
	}
}

// run parses args, serves until ctx ends and prints "listening on ADDR" on
// stdout once the engine has booted.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	opts, err := parseOptions(args)
	if err != nil {
		return err
	}
	err = serve(ctx, opts, func() { fmt.Fprintf(stdout, "listening on %s\n", opts.addr) })
	if err == nil && ctx.Err() == nil {
		// gnet.Run returns nil even when an internal error (accept EMFILE)
		// stopped the engine; that error is in the log on stderr.
		return errors.New("the engine stopped on its own (see gnet's error above)")
	}
	return err
}

// parseOptions parses and checks the command line.
func parseOptions(args []string) (options, error) {
	var opts options
	fs := flag.NewFlagSet("forwarder", flag.ContinueOnError)
	fs.StringVar(&opts.addr, "addr", "", "listen address host:port with an explicit port (required; "+
		"every loop binds its own SO_REUSEPORT listener, so port 0 would give each a different port)")
	fs.StringVar(&opts.upstream, "upstream", "", "upstream host:port every client connection is paired with (required)")
	fs.IntVar(&opts.loops, "loops", 0, "event loops (0 = one per CPU)")
	if err := fs.Parse(args); err != nil {
		return opts, err
	}
	if fs.NArg() > 0 {
		return opts, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err := checkHostPort("-addr", opts.addr); err != nil {
		return opts, err
	}
	if err := checkHostPort("-upstream", opts.upstream); err != nil {
		return opts, err
	}
	if opts.loops < 0 || opts.loops > maxLoops {
		return opts, fmt.Errorf("-loops %d: want 0 (one per CPU) to %d", opts.loops, maxLoops)
	}
	return opts, nil
}

// maxLoops is gnet's own cap on event loops (gnet:gnet.go).
const maxLoops = 256

// checkHostPort rejects a missing or malformed host:port and port 0.
func checkHostPort(flagName, v string) error {
	if v == "" {
		return fmt.Errorf("%s is required (host:port)", flagName)
	}
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return fmt.Errorf("%s %q: %w", flagName, v, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("%s %q: want a port from 1 to 65535", flagName, v)
	}
	return nil
}
