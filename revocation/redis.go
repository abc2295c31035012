package revocation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

var _ Store = (*RedisStore)(nil)

// RedisOptions configures a RedisStore.
type RedisOptions struct {
	// Client is a single server, Sentinel or Cluster client. Build it with
	// ContextTimeoutEnabled: true, or go-redis ignores the per-call deadline
	// and applies only its socket timeouts.
	Client redis.UniversalClient
	// Prefix starts every key (redis.key_prefix).
	Prefix string
	// OpTimeout bounds each Redis call; zero means 500ms.
	OpTimeout time.Duration
	// Now is the clock for the grace window; nil means time.Now. Expiry is
	// Redis's own.
	Now func() time.Time
}

// RedisStore keeps the state in Redis.
//
// Keys: a session's family hash and its revocation marker share the hash
// tag {s:<sid>}, so they live in one Cluster slot and one Lua script can
// spend atomically on a cluster. Revoked access jtis and subject cut-offs
// are single keys; Check reads its three keys in one pipeline.
type RedisStore struct {
	c         redis.UniversalClient
	prefix    string
	opTimeout time.Duration
	now       func() time.Time
}

// NewRedisStore returns a store on opts.Client.
func NewRedisStore(opts RedisOptions) *RedisStore {
	if opts.OpTimeout <= 0 {
		opts.OpTimeout = 500 * time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &RedisStore{c: opts.Client, prefix: opts.Prefix, opTimeout: opts.OpTimeout, now: opts.Now}
}

func (s *RedisStore) familyKey(sid string) string  { return s.prefix + "{s:" + sid + "}:rt" }
func (s *RedisStore) sessionKey(sid string) string { return s.prefix + "{s:" + sid + "}:revoked" }
func (s *RedisStore) jtiKey(jti string) string     { return s.prefix + "jti:" + jti }
func (s *RedisStore) subjectKey(sub string) string { return s.prefix + "sub:" + sub }
func (s *RedisStore) codeKey(jti string) string    { return s.prefix + "code:" + jti }

// unavailable translates a Redis failure; redis.Nil never leaves here.
func unavailable(op string, err error) error {
	return fmt.Errorf("%w: %s: %v", ErrUnavailable, op, err)
}

func (s *RedisStore) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.opTimeout)
}

// Ping implements Store.
func (s *RedisStore) Ping(ctx context.Context) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	if err := s.c.Ping(ctx).Err(); err != nil {
		return unavailable("ping", err)
	}
	return nil
}

// Check implements Store in one round trip.
func (s *RedisStore) Check(ctx context.Context, t Token) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var sid, jti *redis.IntCmd
	cut := new(redis.StringCmd)
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		if t.SID != "" {
			sid = p.Exists(ctx, s.sessionKey(t.SID))
		}
		if t.JTI != "" {
			jti = p.Exists(ctx, s.jtiKey(t.JTI))
		}
		cut = p.Get(ctx, s.subjectKey(t.Subject))
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return unavailable("check", err)
	}
	if (sid != nil && sid.Val() > 0) || (jti != nil && jti.Val() > 0) {
		return ErrRevoked
	}
	if v, err := cut.Int64(); err == nil && t.IssuedAt.Unix() <= v {
		return ErrRevoked
	}
	return nil
}

// setLonger sets KEYS[1] to ARGV[1] unless it already lives longer than
// ARGV[2] milliseconds: a second revocation never shortens the first.
var setLongerScript = redis.NewScript(`
local ttl = tonumber(ARGV[2])
if redis.call('PTTL', KEYS[1]) < ttl then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
end
return 1`)

func (s *RedisStore) setLonger(ctx context.Context, op, key string, ttl time.Duration) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	if err := setLongerScript.Run(ctx, s.c, []string{key}, "1", ms(ttl)).Err(); err != nil {
		return unavailable(op, err)
	}
	return nil
}

func ms(d time.Duration) int64 { return max(1, d.Milliseconds()) }

// RevokeSession implements Store.
func (s *RedisStore) RevokeSession(ctx context.Context, sid string, ttl time.Duration) error {
	return s.setLonger(ctx, "revoke session", s.sessionKey(sid), ttl)
}

// RevokeToken implements Store.
func (s *RedisStore) RevokeToken(ctx context.Context, jti string, ttl time.Duration) error {
	return s.setLonger(ctx, "revoke token", s.jtiKey(jti), ttl)
}

// cutoff keeps the later of two cut-offs and the longer of two TTLs.
var cutoffScript = redis.NewScript(`
local nb = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local pttl = redis.call('PTTL', KEYS[1])
if pttl > ttl then ttl = pttl end
if cur > nb then nb = cur end
redis.call('SET', KEYS[1], nb, 'PX', ttl)
return 1`)

// RevokeSubject implements Store.
func (s *RedisStore) RevokeSubject(ctx context.Context, sub string, notBefore time.Time, ttl time.Duration) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	if err := cutoffScript.Run(ctx, s.c, []string{s.subjectKey(sub)}, notBefore.Unix(), ms(ttl)).Err(); err != nil {
		return unavailable("revoke subject", err)
	}
	return nil
}

// spendScript is the check-and-spend of a refresh token as one Lua script:
// Redis runs a script alone, so no other command can land between reading
// the family's head and moving it. Two concurrent spends of one token are
// serialised, the second sees the first's result, and the chain cannot fork
// (RFC 6819 §5.2.2.3, refresh token rotation; OAuth 2.0 Security BCP
// §4.14). Both keys carry the {s:<sid>} hash tag, so on a cluster they
// live in the slot the script runs in.
//
// KEYS[1] family hash {head, prev, child, at}; KEYS[2] the session's
// revocation marker. ARGV: spent jti, child refresh jti, child record,
// now (ms), grace (ms), ttl (ms).
var spendScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[2]) == 1 then return {'revoked'} end
local head = redis.call('HGET', KEYS[1], 'head')
if (not head) or head == ARGV[1] then
  redis.call('HSET', KEYS[1], 'head', ARGV[2], 'prev', ARGV[1], 'child', ARGV[3], 'at', ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[6])
  return {'spent'}
end
local f = redis.call('HMGET', KEYS[1], 'prev', 'child', 'at')
local grace = tonumber(ARGV[5])
if f[1] == ARGV[1] and grace > 0 and tonumber(ARGV[4]) - tonumber(f[3]) <= grace then
  return {'retry', f[2]}
end
redis.call('DEL', KEYS[1])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[6]) then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[6])
end
return {'reused'}`)

// Spend implements Store; see the rules on Spend.
func (s *RedisStore) Spend(ctx context.Context, sp Spend) (Outcome, error) {
	rec, err := json.Marshal(sp.Child)
	if err != nil {
		return Outcome{}, err
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	res, err := spendScript.Run(ctx, s.c, []string{s.familyKey(sp.SID), s.sessionKey(sp.SID)},
		sp.JTI, sp.Child.RefreshID, rec, s.now().UnixMilli(), sp.Grace.Milliseconds(), ms(sp.TTL)).StringSlice()
	if err != nil {
		return Outcome{}, unavailable("spend", err)
	}
	switch res[0] {
	case "spent":
		return Outcome{Child: sp.Child}, nil
	case "retry":
		var prev Child
		if len(res) < 2 || json.Unmarshal([]byte(res[1]), &prev) != nil {
			return Outcome{}, unavailable("spend", errors.New("undecodable spend record"))
		}
		if prev.ClientID != sp.Child.ClientID || prev.Scope != sp.Child.Scope {
			return Outcome{}, ErrGraceMismatch
		}
		return Outcome{Child: prev, Retry: true}, nil
	case "revoked":
		return Outcome{}, ErrRevoked
	case "reused":
		return Outcome{}, ErrReused
	}
	return Outcome{}, unavailable("spend", fmt.Errorf("unexpected script answer %q", res[0]))
}

// SpendCode implements Store with SET NX: the first caller creates the
// key, every later one finds it.
func (s *RedisStore) SpendCode(ctx context.Context, jti string, ttl time.Duration) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	ok, err := s.c.SetNX(ctx, s.codeKey(jti), "1", time.Duration(ms(ttl))*time.Millisecond).Result()
	if err != nil {
		return unavailable("spend code", err)
	}
	if !ok {
		return ErrReused
	}
	return nil
}

// Keys counts the store's keys under its prefix, for tests and operators.
func (s *RedisStore) Keys(ctx context.Context) (int, error) {
	var n atomic.Int64
	count := func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, s.prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			n.Add(1)
		}
		return iter.Err()
	}
	var err error
	switch c := s.c.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, count)
	case *redis.Client:
		err = count(ctx, c)
	default:
		return 0, errors.New("revocation: Keys needs a single-server or cluster client")
	}
	if err != nil {
		return 0, unavailable("scan", err)
	}
	return int(n.Load()), nil
}
