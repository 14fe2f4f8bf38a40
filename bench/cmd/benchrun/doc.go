// Command benchrun is ferry's side-by-side benchmark harness. In one run it
// builds the upstream, idleconns, forwarder and ferry binaries, installs missing
// Debian tools (wrk, nginx, haproxy, h2load, slowhttptest, openssl), generates
// one ECDSA P-256 certificate, writes nginx and HAProxy configurations from
// the reference files (ports rewritten; TLS and h2c listeners added) and the
// ferry configs, starts the upstream and every target on free 127.0.0.1 ports,
// measures idle-connection memory (plain, and TLS in the idle-tls cases),
// then runs each load case with the targets interleaved round by round,
// then the slow-reader cases
// (slowhttptest -X, 30 s, peak RSS growth per target), and writes a
// markdown report and an SVG chart to bench/results (see bench/README.md).
//
// Noise: each measured run records the CPU used by processes outside the
// benchmark (noise.go); a run above -noise-max is repeated, at most
// -noise-repeats times, and the report lists the repeats and gives each
// headline figure's min–max and coefficient of variation beside its
// median.
//
// Targets: direct (wrk straight at the upstream: the ceiling), forwarder
// (bench/forwarder, a minimal gnet byte copier: the ceiling for a gnet
// proxy; HTTP/1.1 cases only, no goal marks, no idle-memory test),
// ferry-auto, ferry-pool, nginx, haproxy, ferry-b (ferry-auto's config run
// by a second binary given with -ferry-b: an A/B of two builds in one run,
// both beside the same nginx rounds); and the variants ferry-metrics,
// ferry-accesslog, nginx-accesslog and ferry-hc (a health check of the
// upstream host every 100 ms), and ferry-h2up and haproxy-h2up (proxying
// in HTTP/2 to a second, h2c upstream: bench/upstream -h2c), started only
// for the cases that name them (metrics-on, accesslog-on, healthcheck-on,
// h2up-1k-c50; the h2c upstream too). A target that cannot be built or
// started is skipped with a note in the report instead of failing the run;
// one that cannot do a case (no TLS or h2c listener, nginx to an h2c
// upstream) is n/a with the reason.
//
// Safety: all traffic goes to 127.0.0.1; every load run is bounded in time;
// every child runs in its own process group with Pdeathsig, and the
// supervisor stops each one by process-group ID when the run ends,
// whether it succeeded, failed or was interrupted by SIGINT/SIGTERM.
//
// Goroutines: main drives everything sequentially; helpers are the RSS
// sampler during a measured run and os/exec's copy goroutines.
//
// It imports only the standard library and is imported by nothing.
package main
