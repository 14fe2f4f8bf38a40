package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "idleconns:", err)
		os.Exit(1)
	}
}

// config is the parsed command line.
type config struct {
	addr     string        // server to connect to
	n        int           // connections to hold
	path     string        // request path of the one GET per connection
	parallel int           // concurrent dials
	timeout  time.Duration // deadline for setting up all connections
	h2       bool          // HTTP/2 cleartext with prior knowledge instead of HTTP/1.1
	tls      bool          // TLS first (ALPN h2 with -h2, else http/1.1); the certificate is not checked
}

func parseFlags(args []string) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("idleconns", flag.ContinueOnError)
	fs.StringVar(&cfg.addr, "addr", "", "server address host:port (required)")
	fs.IntVar(&cfg.n, "n", 10000, "connections to open and hold idle")
	fs.StringVar(&cfg.path, "path", "/0", "path of the GET sent on each connection")
	fs.IntVar(&cfg.parallel, "parallel", 64, "connections set up concurrently")
	fs.DurationVar(&cfg.timeout, "timeout", 60*time.Second, "deadline to set up all connections")
	fs.BoolVar(&cfg.h2, "h2", false, "speak HTTP/2 cleartext (prior knowledge): each connection makes one GET on stream 1")
	fs.BoolVar(&cfg.tls, "tls", false, "speak TLS (ALPN h2 with -h2, else http/1.1), not checking the server's certificate")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if cfg.addr == "" || cfg.n <= 0 || cfg.parallel <= 0 {
		return cfg, errors.New("need -addr, -n > 0 and -parallel > 0")
	}
	return cfg, nil
}

func run(args []string) error {
	cfg, err := parseFlags(args)
	if err != nil {
		return err
	}
	if err := raiseNoFile(uint64(cfg.n) + 64); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	conns, err := openAll(ctx, cfg)
	defer closeAll(conns)
	if err != nil {
		return err
	}
	fmt.Printf("ready %d\n", len(conns))
	waitForEOF(ctx, os.Stdin)
	return nil
}

// raiseNoFile lifts the soft RLIMIT_NOFILE to the hard limit and checks that
// need descriptors fit.
func raiseNoFile(need uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("getrlimit: %w", err)
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("setrlimit nofile %d: %w", lim.Max, err)
	}
	if need > lim.Cur {
		return fmt.Errorf("need %d file descriptors, hard limit is %d", need, lim.Cur)
	}
	return nil
}

// openAll sets up cfg.n connections with cfg.parallel workers. On error it
// returns the connections opened so far along with the first error.
func openAll(ctx context.Context, cfg config) ([]net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	req := []byte("GET " + cfg.path + " HTTP/1.1\r\nHost: " + cfg.addr + "\r\n\r\n")
	conns := make([]net.Conn, cfg.n)
	jobs := make(chan int)
	errc := make(chan error, cfg.parallel)
	var wg sync.WaitGroup
	for range cfg.parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				c, err := openOne(ctx, cfg, req)
				if err != nil {
					errc <- fmt.Errorf("connection %d: %w", i, err)
					cancel()
					return
				}
				conns[i] = c
			}
		}()
	}
	var firstErr error
feed:
	for i := range cfg.n {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	close(errc)
	firstErr = <-errc
	if firstErr == nil && ctx.Err() != nil {
		firstErr = fmt.Errorf("set up %d connections: %w", cfg.n, ctx.Err())
	}
	opened := conns[:0]
	for _, c := range conns {
		if c != nil {
			opened = append(opened, c)
		}
	}
	return opened, firstErr
}

// openOne dials, sends req and reads one complete response, then clears
// the deadline so the connection can sit idle.
func openOne(ctx context.Context, cfg config, req []byte) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", cfg.addr)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	deadline, _ := ctx.Deadline()
	if cfg.tls {
		proto := "http/1.1"
		if cfg.h2 {
			proto = "h2"
		}
		// A measuring tool pointed at a test certificate: what it
		// measures is the server's memory, not its identity.
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{proto}})
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = c.Close() // already failing; the handshake error is the one to report
			return nil, fmt.Errorf("TLS handshake: %w", err)
		}
		c = tc
	}
	if cfg.h2 {
		err = exchangeH2(c, cfg.addr, cfg.path, deadline)
	} else {
		err = exchange(c, req, deadline)
	}
	if err != nil {
		_ = c.Close() // already failing; the exchange error is the one to report
		return nil, err
	}
	return c, nil
}

// exchange writes req and reads one 200 response framed by Content-Length.
func exchange(c net.Conn, req []byte, deadline time.Time) error {
	if err := c.SetDeadline(deadline); err != nil {
		return err
	}
	if _, err := c.Write(req); err != nil {
		return fmt.Errorf("write request: %w", err)
	}
	br := bufio.NewReaderSize(c, 512)
	status, length, err := readHead(br)
	if err != nil {
		return err
	}
	if status != 200 {
		return fmt.Errorf("status %d, want 200", status)
	}
	if _, err := io.CopyN(io.Discard, br, length); err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if br.Buffered() != 0 {
		return fmt.Errorf("%d unexpected bytes after the response", br.Buffered())
	}
	return c.SetDeadline(time.Time{})
}

// readHead reads a response head and returns its status and Content-Length.
func readHead(br *bufio.Reader) (status int, length int64, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, 0, fmt.Errorf("read status line: %w", err)
	}
	fields := bytes.Fields(line)
	if len(fields) < 2 {
		return 0, 0, fmt.Errorf("bad status line %q", line)
	}
	if status, err = strconv.Atoi(string(fields[1])); err != nil {
		return 0, 0, fmt.Errorf("bad status line %q", line)
	}
	length = -1
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return 0, 0, fmt.Errorf("read header: %w", err)
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(name), []byte("Content-Length")) {
			if length, err = strconv.ParseInt(string(bytes.TrimSpace(value)), 10, 64); err != nil {
				return 0, 0, fmt.Errorf("bad Content-Length %q", value)
			}
		}
	}
	if length < 0 {
		return 0, 0, errors.New("response without Content-Length")
	}
	return status, length, nil
}

// waitForEOF returns when r reaches EOF (or fails) or ctx is done.
func waitForEOF(ctx context.Context, r io.Reader) {
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, r) // any error ends the wait like EOF does
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		_ = c.Close() // shutting down; nothing useful to do with an error
	}
}
