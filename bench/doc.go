// Command bench is jwtd's load benchmark: one invocation (`go run ./bench`,
// or `make bench`) measures floors and jwtd on loopback and prints one
// Markdown table.
//
// The floors are what an endpoint cannot beat: Echo handlers that return
// fixed JSON, verify one ES256 bearer token with golang-jwt, or sign one or
// two ES256 tokens (and, for refresh, verify one and sign two, with one
// go-redis PING for the Redis store). They run in a child process of the
// benchmark (its own binary, re-executed), each on its own port, so that
// the server under test and the floors are pinned to the same core.
// Raw signing and verification per algorithm are measured in-process with
// testing.Benchmark.
//
// jwtd is built from the tree and started twice, on the memory store and on
// a redis-server the benchmark starts itself, each with a generated
// configuration (rate limits off, keys in a temporary directory).
//
// Load comes from vegeta (github.com/tsenart/vegeta/v12) used as a
// library: a closed-loop saturation step (rate unbounded, a fixed number of
// workers) and then an open-loop latency step at half the rate the
// saturation step measured, per server, per endpoint, in interleaved
// rounds (floor, jwtd on memory, jwtd on Redis); the table shows the median
// of the rounds. When taskset is present the servers (floors, jwtd,
// redis-server) run on CPU 1 and the load generator on CPU 0.
//
// With -profile DIR, every jwtd row gets one more saturation step after the
// rounds, during which jwtd's CPU profile (server.pprof_listen) is saved in
// DIR and summarised by category with github.com/google/pprof/profile
// (categories.go says how a stack decides its category).
package main
