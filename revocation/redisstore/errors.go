package redisstore

import "errors"

// Causes that only ever travel inside another error.
var (
	// errUndecodableSpend is the cause, under revocation.ErrUnavailable, of
	// a spend whose recorded child the store cannot read back.
	errUndecodableSpend = errors.New("undecodable spend record")
	// errUnscannable refuses a go-redis client that is neither one server
	// nor a cluster (a ring, say): SCAN must reach every primary.
	errUnscannable = errors.New("redisstore: scanning needs a single-server or cluster client")
)
