// Package redisstore is the Redis implementation of revocation.Store: one
// server, Sentinel or Cluster through one go-redis client. It passes the
// same contract as revocation.MemoryStore (revocation/store_test.go).
//
// It is a package of its own so that importing revocation (the Store
// contract, the memory store, the mirror and its feed follower) never pulls
// go-redis into a resource server that only follows jwtd's feed.
package redisstore
