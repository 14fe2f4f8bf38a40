// Package archtest holds no code: its test asserts the direction of
// ferry's imports over the whole import graph, tests included, as
// `go list` reports it under each build configuration make test uses:
//
//   - only eventloop and conn import gnet (github.com/panjf2000/gnet/v2):
//     everything else reaches the network through their types (conn.Dialer
//     for outgoing connections). bench/forwarder and bench/upstream are
//     exempt: they are measuring sticks outside the product (the ceiling
//     forwarder and the benchmark's upstream), not parts of ferry;
//   - router and config import no ferry package: they are the leaves that
//     the rest is built from;
//   - nothing imports proxy but the composition root (internal/app, and
//     cmd/ferry should it need to), and proxy's own external tests;
//   - likewise admin: the admin API is off the data path, so no data-plane
//     package imports it.
//
// depguard in .golangci.yml checks the same rules file by file as code is
// written; this test is the one that sees the graph as the go tool does.
package archtest
