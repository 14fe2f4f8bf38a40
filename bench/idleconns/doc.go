// Command idleconns opens N keep-alive connections to a server, sends one
// small GET on each and reads the response fully (so the server has really
// set the connection up, per-connection buffers included), then holds them
// idle. It prints "ready N" on stdout once every connection is set up, and
// keeps them open until stdin reaches EOF or it gets SIGINT/SIGTERM; then it
// closes them and exits. The benchmark harness reads the server's RSS before
// and after to report memory per idle connection.
//
// With -tls it speaks TLS first (ALPN http/1.1, or h2 with -h2), without
// checking the server's certificate: docs/tls.md measures the memory of
// idle TLS connections with it.
//
// It raises its own RLIMIT_NOFILE soft limit to the hard limit. All traffic
// goes to the address given with -addr; every dial and read has a deadline.
//
// Goroutines: main plus a bounded set of dialers that all finish before
// "ready" is printed. It imports only the standard library.
package main
