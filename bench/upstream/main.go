package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "upstream:", err)
		os.Exit(1)
	}
}

// run parses flags, serves until SIGINT/SIGTERM and stops the engine.
func run(args []string) error {
	fs := flag.NewFlagSet("upstream", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address; port 0 picks a free port")
	loops := fs.Int("loops", 0, "event loops (0 = one per CPU)")
	reusePort := fs.Bool("reuseport", true, "one SO_REUSEPORT listener per loop")
	h2cMode := fs.Bool("h2c", false, "serve HTTP/2 cleartext (prior knowledge; HTTP/1.1 too) with net/http instead of the gnet HTTP/1.1 server")
	maxConns := fs.Int64("max-conns", -1, "most open connections; one past it is closed at accept (-1 = RLIMIT_NOFILE minus 64, 0 = no limit)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *h2cMode {
		return runH2C(*addr)
	}
	if *maxConns < 0 {
		var lim syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return fmt.Errorf("getrlimit: %w", err)
		}
		*maxConns = max(int64(lim.Cur)-64, 1) // a descriptor limit fits an int64
	}
	srv := NewServer(Options{Addr: *addr, Loops: *loops, ReusePort: *reusePort, MaxConns: *maxConns})
	done := make(chan error, 1)
	go func() { done <- srv.Run() }()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	bound, err := srv.Addr(ctx)
	cancel()
	if err != nil {
		return err
	}
	fmt.Printf("listening on %s\n", bound)
	return untilSignal(done, srv.Stop, func() {
		if n := srv.Refused(); n > 0 {
			fmt.Printf("refused %d connections over the budget of %d\n", n, *maxConns)
		}
	})
}

// runH2C is the -h2c mode: the same bodies over h2c, until SIGINT/SIGTERM;
// on the way out it prints how many requests each protocol carried.
func runH2C(addr string) error {
	srv, err := newH2CServer(addr)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	fmt.Printf("listening on %s\n", srv.Addr())
	return untilSignal(done, srv.Stop, func() {
		h2, h1 := srv.Counts()
		fmt.Printf("served %d HTTP/2 and %d HTTP/1.x requests\n", h2, h1)
	})
}

// untilSignal waits for SIGINT or SIGTERM, then calls report and stops the
// server (stop, given 5 s) and returns what its serving goroutine (done)
// returns; a server that ends by itself ends the wait with its error.
func untilSignal(done <-chan error, stop func(context.Context) error, report func()) error {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	select {
	case err := <-done:
		return err
	case <-sig:
	}
	report()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := stop(ctx); err != nil {
		return err
	}
	return <-done
}
