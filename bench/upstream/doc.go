// Command upstream is the origin server that every target in the benchmark
// fronts: a minimal, correct keep-alive HTTP/1.1 server on gnet v2 with one
// event loop per core.
//
// It answers GET and HEAD with 200 and a body whose size the path chooses:
// "/" and "/0" give 0 bytes, "/1k" 1024, "/64k" 65536 and "/size/N" N bytes
// (at most 64 MiB). Framing is always Content-Length. Requests are parsed
// incrementally with Peek/Discard, so partial reads and pipelining are safe;
// Content-Length request bodies are consumed and discarded; chunked request
// bodies are refused with 501 and the connection is closed. "Connection:
// close" (or an HTTP/1.0 request without keep-alive) gets its response and
// then the connection is closed once the response has left gnet's buffer.
//
// It keeps at most -max-conns connections open (default: RLIMIT_NOFILE
// minus 64) and closes one past that as soon as it is accepted: gnet stops
// the whole engine when accept meets EMFILE, and in a benchmark every proxy
// keeps its idle upstream connections, so the origin must not run out of
// descriptors before its clients do.
//
// Once the listener is bound the command prints "listening on ADDR" on
// stdout, so callers that passed port 0 can learn the port.
//
// Goroutines: all per-connection state lives in gnet.Conn.Context() and is
// touched only on the connection's event loop. Server.Stop may be called from
// any goroutine.
//
// With -h2c it serves the same bodies with net/http over HTTP/2 cleartext
// with prior knowledge (and HTTP/1.1, which readiness probes use), with
// SETTINGS_MAX_CONCURRENT_STREAMS 1000: the upstream of the h2up-* bench
// cases, where the proxy speaks HTTP/2 to its upstream. On SIGINT/SIGTERM it
// prints how many requests came over each protocol.
//
// It imports only gnet and the standard library and is imported by nothing.
package main
