// Package reliability holds ferry's reliability and security tests (issue
// 3, "Reliability and security"). It has no code outside _test.go files.
//
// Each test starts ferry in-process through internal/app from a MOSN JSON
// configuration on 127.0.0.1:0, in front of a test upstream, and proves
// that ferry stays up, keeps its memory bounded, loses no accepted byte and
// never lets one client hurt another:
//
//   - slow and abusive clients (slowloris heads, slow and stalled bodies,
//     slow readers of large responses, connection floods past
//     max_connections, pipelined floods, max_requests_per_connection) are
//     each bounded by a timeout or a limit and answered with the right
//     status or a close;
//   - upstream faults (refused, reset before and during the response, hang,
//     slow drip, garbage, a keep-alive connection closed as it is reused, an
//     upstream that never reads the request body) never hang a client, leak
//     a goroutine or leave a request counted as active;
//   - TestSoak runs mixed traffic with injected faults for 30 s (-soak=3m
//     or FERRY_SOAK=3m for longer; skipped under -short), from HTTP/1.1
//     clients and from HTTP/2 streams multiplexed on a few h2c connections
//     (soak_h2_test.go: downloads, uploads with and without a length,
//     cancelled streams, faults) on the same Auto listener, and checks that
//     every response is whole or visibly cut, and that heap, goroutines and
//     downstream_rq_active return to their baseline.
//
// Goroutines: the tests' clients and upstreams run on their own goroutines;
// ferry runs on its event loops and worker pool, stopped by each test's
// cleanup. TestMain checks with goleak that nothing outlives the package.
//
// Imports: internal/app, config, internal/testutil and the standard
// library; never proxy, conn or eventloop internals.
package reliability
