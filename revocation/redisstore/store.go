package redisstore

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jwtd/jwtd/revocation"
)

var _ revocation.Store = (*Store)(nil)

// Options configures a Store.
type Options struct {
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
	// FeedMaxLen bounds the feed stream by count (XADD MAXLEN ~); zero
	// means revocation.MaxHistory.
	FeedMaxLen int64
}

// Store keeps the state in Redis.
//
// Keys: a session's family hash, its revocation marker and its subject's
// cut-off share the hash tag {u:<base64url(sub)>}, so they live in one
// Cluster slot and one Lua script can spend atomically on a cluster,
// refusing a token its subject's logout/all has cut off. The subject is
// encoded because a sub may hold '{', '}' or ':'. Revoked access jtis are
// single keys; Check reads its three keys in one pipeline.
//
// This layout replaced {s:<sid>}:rt, {s:<sid>}:revoked and sub:<sub>:
// keys of that older layout are not read, and expire by their TTL.
type Store struct {
	c         redis.UniversalClient
	prefix    string
	opTimeout time.Duration
	now       func() time.Time
	feedMax   int64

	// outbox holds feed events whose revocation is done but whose publish
	// failed, oldest first, for the next publish and Run to retry.
	outboxMu sync.Mutex
	outbox   []revocation.Entry
}

// maxOutbox bounds the outbox; past it the oldest events are dropped.
// Their revocations still stand and are in every snapshot: a verifier
// that misses one catches it at its next snapshot.
const maxOutbox = revocation.MaxHistory

// outboxRetry is how often Run retries the outbox, and outboxBurst how
// many events Run publishes per op timeout. A revocation flushes only
// requestBurst before publishing its own, so a backlog is drained by Run
// and does not land on one request.
const (
	outboxRetry  = time.Second
	outboxBurst  = 100
	requestBurst = 10
)

// New returns a store on opts.Client.
func New(opts Options) *Store {
	if opts.OpTimeout <= 0 {
		opts.OpTimeout = 500 * time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.FeedMaxLen <= 0 {
		opts.FeedMaxLen = revocation.MaxHistory
	}
	return &Store{c: opts.Client, prefix: opts.Prefix, opTimeout: opts.OpTimeout, now: opts.Now, feedMax: opts.FeedMaxLen}
}

// subjectTag is the hash tag of everything a subject's spends read.
func (s *Store) subjectTag(sub string) string {
	return s.prefix + "{u:" + base64.RawURLEncoding.EncodeToString([]byte(sub)) + "}"
}

func (s *Store) familyKey(sub, sid string) string {
	return s.subjectTag(sub) + ":s:" + sid + ":rt"
}

func (s *Store) sessionKey(sub, sid string) string {
	return s.subjectTag(sub) + ":s:" + sid + ":revoked"
}

func (s *Store) subjectKey(sub string) string { return s.subjectTag(sub) + ":cut" }
func (s *Store) jtiKey(jti string) string     { return s.prefix + "jti:" + jti }
func (s *Store) codeKey(jti string) string    { return s.prefix + "code:" + jti }
func (s *Store) FeedKey() string              { return s.prefix + "revocations" }

// unavailable translates a Redis failure; redis.Nil never leaves here.
func unavailable(op string, err error) error {
	return fmt.Errorf("%w: %s: %v", revocation.ErrUnavailable, op, err)
}

// failed translates the failure of a read made for caller: when the
// caller itself has gone (its client hung up), that is not an outage of a
// healthy Redis, so the error wraps the caller's context.Canceled (or
// DeadlineExceeded) and not revocation.ErrUnavailable. Our own op timeout expiring
// with the caller still there stays revocation.ErrUnavailable.
func failed(caller context.Context, op string, err error) error {
	if cerr := caller.Err(); cerr != nil {
		return fmt.Errorf("revocation: %s: %w", op, cerr)
	}
	return unavailable(op, err)
}

// ctx bounds a read by the op timeout; the caller's cancellation ends it.
func (s *Store) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.opTimeout)
}

// writeCtx bounds a write by the op timeout alone: a client that hangs up
// must not interrupt a spend or a revocation half-way (between the
// revocation and its feed event, or between sending a script and reading
// its answer), so a write is either done or not. A client that lost the
// answer to a spend that was done retries with the same refresh token and,
// within tokens.reuse_grace, gets the same pair again.
func (s *Store) writeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), s.opTimeout)
}

// Ping implements revocation.Store.
func (s *Store) Ping(caller context.Context) error {
	ctx, cancel := s.ctx(caller)
	defer cancel()
	if err := s.c.Ping(ctx).Err(); err != nil {
		return failed(caller, "ping", err)
	}
	return nil
}

// Check implements revocation.Store in one round trip.
func (s *Store) Check(caller context.Context, t revocation.Token) error {
	ctx, cancel := s.ctx(caller)
	defer cancel()
	var sid, jti *redis.IntCmd
	cut := new(redis.StringCmd)
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		if t.SID != "" {
			sid = p.Exists(ctx, s.sessionKey(t.Subject, t.SID))
		}
		if t.JTI != "" {
			jti = p.Exists(ctx, s.jtiKey(t.JTI))
		}
		cut = p.Get(ctx, s.subjectKey(t.Subject))
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return failed(caller, "check", err)
	}
	if (sid != nil && sid.Val() > 0) || (jti != nil && jti.Val() > 0) {
		return revocation.ErrRevoked
	}
	if v, err := cut.Int64(); err == nil && t.IssuedAt.Unix() <= v {
		return revocation.ErrRevoked
	}
	return nil
}

// revokeOnce sets KEYS[1] to ARGV[1] for ARGV[2] milliseconds unless it
// exists, and answers 1 when it set it. A live entry already covers every
// token it must (a revoked session mints nothing more; a jti's TTL is its
// token's remaining life), so a second revocation changes nothing, never
// shortens the first, and publishes nothing: a repeated logout of one
// revoked session cannot flood the feed.
var revokeOnceScript = redis.NewScript(`
if redis.call('PTTL', KEYS[1]) ~= -2 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`)

func (s *Store) revokeOnce(ctx context.Context, op, key string, ttl time.Duration, e revocation.Entry) error {
	ctx, cancel := s.writeCtx(ctx)
	defer cancel()
	set, err := revokeOnceScript.Run(ctx, s.c, []string{key}, "1", ms(ttl)).Int64()
	if err != nil {
		return unavailable(op, err)
	}
	if set == 0 {
		return nil
	}
	e.ExpiresAt = s.now().Add(time.Duration(ms(ttl)) * time.Millisecond)
	return s.publish(ctx, op, e)
}

// publishScript appends a revocation to the feed, keeps about the newest
// ARGV[6] events (MAXLEN ~, which trims whole stream nodes, so it is
// cheap), trims what is older than revocation.History by the stream's own clock (its
// IDs are Redis's milliseconds), and lets an idle feed expire. KEYS[1] the
// stream; ARGV kind, value, nb, exp (ms), revocation.History (ms), max length.
var publishScript = redis.NewScript(`
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[6], '*', 'kind', ARGV[1], 'value', ARGV[2], 'nb', ARGV[3], 'exp', ARGV[4])
local ms = tonumber(string.match(id, '^(%d+)'))
redis.call('XTRIM', KEYS[1], 'MINID', '~', ms - tonumber(ARGV[5]))
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return id`)

// publish appends a revocation to the feed. It is a second step after the
// revocation itself (on a cluster the stream lives in another slot), and a
// retry of the revocation would change nothing and publish nothing. So if
// it fails, the event goes to the outbox and the answer is ErrFeedDelayed:
// the revocation stands, and the event is published by the next publish
// or by Run. Older events in the outbox go first, so the feed keeps their
// order.
func (s *Store) publish(ctx context.Context, op string, e revocation.Entry) error {
	err := s.flush(ctx, requestBurst)
	if err == nil {
		err = s.publishOne(ctx, e)
	}
	if err != nil {
		s.enqueue(e)
		return fmt.Errorf("%w: %s: publish: %v", revocation.ErrFeedDelayed, op, err)
	}
	return nil
}

func (s *Store) publishOne(ctx context.Context, e revocation.Entry) error {
	return publishScript.Run(ctx, s.c, []string{s.FeedKey()},
		e.Kind, e.Value, e.NotBefore.Unix(), e.ExpiresAt.UnixMilli(), revocation.History.Milliseconds(), s.feedMax).Err()
}

func (s *Store) enqueue(e revocation.Entry) {
	s.outboxMu.Lock()
	defer s.outboxMu.Unlock()
	s.outbox = append(s.outbox, e)
	if n := len(s.outbox) - maxOutbox; n > 0 {
		clear(s.outbox[:n])
		s.outbox = s.outbox[n:]
	}
}

// flush publishes up to limit outbox events, oldest first, and stops at
// the first failure. Events whose entry has expired meanwhile are dropped.
func (s *Store) flush(ctx context.Context, limit int) error {
	s.outboxMu.Lock()
	defer s.outboxMu.Unlock()
	now := s.now()
	for n := 0; len(s.outbox) > 0 && n < limit; n++ {
		e := s.outbox[0]
		if e.ExpiresAt.After(now) {
			if err := s.publishOne(ctx, e); err != nil {
				return err
			}
		}
		s.outbox[0] = revocation.Entry{}
		s.outbox = s.outbox[1:]
	}
	return nil
}

// Run retries the outbox of unpublished feed events every second until
// ctx is done, then returns. Start it once per store, from main.
func (s *Store) Run(ctx context.Context) {
	t := time.NewTicker(outboxRetry)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.retryOutbox(ctx)
		}
	}
}

// retryOutbox drains the outbox, a burst at a time, each under its own op
// timeout, until it is empty or a publish fails.
func (s *Store) retryOutbox(ctx context.Context) {
	for s.Pending() > 0 && ctx.Err() == nil {
		pctx, cancel := s.ctx(ctx)
		err := s.flush(pctx, outboxBurst)
		cancel()
		if err != nil {
			return
		}
	}
}

// Pending counts the feed events waiting in the outbox.
func (s *Store) Pending() int {
	s.outboxMu.Lock()
	defer s.outboxMu.Unlock()
	return len(s.outbox)
}

// RevokeSession implements revocation.Store.
func (s *Store) RevokeSession(ctx context.Context, sub, sid string, ttl time.Duration) error {
	return s.revokeOnce(ctx, "revoke session", s.sessionKey(sub, sid), ttl, revocation.Entry{Kind: revocation.KindSession, Value: sid})
}

// RevokeToken implements revocation.Store.
func (s *Store) RevokeToken(ctx context.Context, jti string, ttl time.Duration) error {
	return s.revokeOnce(ctx, "revoke token", s.jtiKey(jti), ttl, revocation.Entry{Kind: revocation.KindToken, Value: jti})
}

// cutoff keeps the later of two cut-offs and the longer of two TTLs, and
// answers whether the cut-off moved later (or is new): only then does
// the feed hear of it.
var cutoffScript = redis.NewScript(`
local nb = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local cur = redis.call('GET', KEYS[1])
local later = 1
if cur and tonumber(cur) >= nb then
  nb = tonumber(cur)
  later = 0
end
local pttl = redis.call('PTTL', KEYS[1])
if pttl > ttl then ttl = pttl end
redis.call('SET', KEYS[1], nb, 'PX', ttl)
return {nb, ttl, later}`)

// RevokeSubject implements revocation.Store.
func (s *Store) RevokeSubject(ctx context.Context, sub string, notBefore time.Time, ttl time.Duration) error {
	ctx, cancel := s.writeCtx(ctx)
	defer cancel()
	res, err := cutoffScript.Run(ctx, s.c, []string{s.subjectKey(sub)}, notBefore.Unix(), ms(ttl)).Int64Slice()
	if err != nil || len(res) != 3 {
		return unavailable("revoke subject", err)
	}
	if res[2] == 0 {
		return nil
	}
	return s.publish(ctx, "revoke subject", revocation.Entry{Kind: revocation.KindSubject, Value: sub,
		NotBefore: time.Unix(res[0], 0), ExpiresAt: s.now().Add(time.Duration(res[1]) * time.Millisecond)})
}

// spendScript is the check-and-spend of a refresh token as one Lua script:
// Redis runs a script alone, so no other command can land between reading
// the family's head and moving it. Two concurrent spends of one token are
// serialised, the second sees the first's result, and the chain cannot fork
// (RFC 6819 §5.2.2.3, refresh token rotation; OAuth 2.0 Security BCP
// §4.14). The subject's cut-off is read in the same step, so a refresh
// racing a logout/all either lands before the cut-off is written or is
// refused. All three keys carry the subject's hash tag, so on a cluster
// they live in the slot the script runs in.
//
// KEYS[1] family hash {head, prev, child, at}; KEYS[2] the session's
// revocation marker; KEYS[3] the subject's cut-off (unix s). ARGV: spent
// jti, child refresh jti, child record, now (ms), grace (ms), ttl (ms),
// the spent token's iat (unix s).
var spendScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[2]) == 1 then return {'revoked'} end
local cut = redis.call('GET', KEYS[3])
if cut and tonumber(ARGV[7]) <= tonumber(cut) then return {'revoked'} end
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

// Spend implements revocation.Store; see the rules on revocation.Spend.
func (s *Store) Spend(ctx context.Context, sp revocation.Spend) (revocation.Outcome, error) {
	rec, err := json.Marshal(sp.Child)
	if err != nil {
		return revocation.Outcome{}, err
	}
	ctx, cancel := s.writeCtx(ctx)
	defer cancel()
	keys := []string{s.familyKey(sp.Subject, sp.SID), s.sessionKey(sp.Subject, sp.SID), s.subjectKey(sp.Subject)}
	res, err := spendScript.Run(ctx, s.c, keys,
		sp.JTI, sp.Child.RefreshID, rec, s.now().UnixMilli(), sp.Grace.Milliseconds(), ms(sp.TTL), sp.IssuedAt.Unix()).StringSlice()
	if err != nil {
		return revocation.Outcome{}, unavailable("spend", err)
	}
	switch res[0] {
	case "spent":
		return revocation.Outcome{Child: sp.Child}, nil
	case "retry":
		var prev revocation.Child
		if len(res) < 2 || json.Unmarshal([]byte(res[1]), &prev) != nil {
			return revocation.Outcome{}, unavailable("spend", errUndecodableSpend)
		}
		if prev.ClientID != sp.Child.ClientID || prev.Scope != sp.Child.Scope {
			return revocation.Outcome{}, revocation.ErrGraceMismatch
		}
		return revocation.Outcome{Child: prev, Retry: true}, nil
	case "revoked":
		return revocation.Outcome{}, revocation.ErrRevoked
	case "reused":
		if err := s.publish(ctx, "spend", revocation.Entry{Kind: revocation.KindSession, Value: sp.SID, ExpiresAt: s.now().Add(sp.TTL)}); err != nil {
			return revocation.Outcome{}, errors.Join(revocation.ErrReused, err)
		}
		return revocation.Outcome{}, revocation.ErrReused
	}
	return revocation.Outcome{}, unavailable("spend", fmt.Errorf("unexpected script answer %q", res[0]))
}

// SpendCode implements revocation.Store with SET NX: the first caller creates the
// key, every later one finds it.
func (s *Store) SpendCode(ctx context.Context, jti string, ttl time.Duration) error {
	ctx, cancel := s.writeCtx(ctx)
	defer cancel()
	ok, err := s.c.SetNX(ctx, s.codeKey(jti), "1", time.Duration(ms(ttl))*time.Millisecond).Result()
	if err != nil {
		return unavailable("spend code", err)
	}
	if !ok {
		return revocation.ErrReused
	}
	return nil
}

// Snapshot implements revocation.Store: the cursor first, then a scan of the
// denylist keys, so anything revoked during the scan is also in the feed
// after the cursor (seen twice at worst, never missed). Each SCAN page of
// up to scanPage keys costs one more round trip, a pipeline of their PTTLs
// (and GETs for cut-offs), and each round trip has its own op timeout: the
// time a snapshot may take grows with the denylist, and nothing of it is
// held in memory but one page.
func (s *Store) Snapshot(caller context.Context, emit func(revocation.Entry) error) (string, error) {
	cursor, err := s.cursorNow(caller)
	if err != nil {
		return "", failed(caller, "snapshot", err)
	}
	var emitErr error
	err = s.scan(caller, func(c *redis.Client, keys []string) error {
		entries := make([]revocation.Entry, 0, len(keys))
		ttls := make([]*redis.DurationCmd, 0, len(keys))
		nbs := make([]*redis.StringCmd, 0, len(keys))
		ctx, cancel := s.ctx(caller)
		defer cancel()
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, key := range keys {
				e, ok := s.entryOf(key)
				if !ok {
					continue
				}
				entries = append(entries, e)
				ttls = append(ttls, p.PTTL(ctx, key))
				var nb *redis.StringCmd
				if e.Kind == revocation.KindSubject {
					nb = p.Get(ctx, key)
				}
				nbs = append(nbs, nb)
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		now := s.now()
		for i, e := range entries {
			left, err := ttls[i].Result()
			if err != nil || left <= 0 {
				continue // expired while we scanned
			}
			e.ExpiresAt = now.Add(left)
			if nbs[i] != nil {
				nb, err := nbs[i].Int64()
				if err != nil {
					continue
				}
				e.NotBefore = time.Unix(nb, 0)
			}
			if err := emit(e); err != nil {
				emitErr = err
				return err
			}
		}
		return nil
	})
	if emitErr != nil {
		return "", emitErr // the writer's failure, not the store's
	}
	if err != nil {
		return "", failed(caller, "snapshot", err)
	}
	return cursor, nil
}

// cursorNow is the feed's newest ID, or on an empty feed a cursor just
// before Redis's now, which every later stream ID follows.
func (s *Store) cursorNow(caller context.Context) (string, error) {
	ctx, cancel := s.ctx(caller)
	defer cancel()
	last, err := s.c.XRevRangeN(ctx, s.FeedKey(), "+", "-", 1).Result()
	if err != nil {
		return "", err
	}
	if len(last) == 1 {
		return last[0].ID, nil
	}
	now, err := s.c.Time(ctx).Result()
	if err != nil {
		return "", err
	}
	return revocation.FormatCursor(now.UnixMilli()-1, 0), nil
}

// entryOf recognises a denylist key: <tag>:s:<sid>:revoked, <tag>:cut
// (tag {u:<base64url(sub)>}) or jti:<jti>. Family hashes, codes, the feed
// and keys of the older layout are not entries.
func (s *Store) entryOf(key string) (revocation.Entry, bool) {
	rest, ok := strings.CutPrefix(key, s.prefix)
	if !ok {
		return revocation.Entry{}, false
	}
	if jti, ok := strings.CutPrefix(rest, "jti:"); ok {
		return revocation.Entry{Kind: revocation.KindToken, Value: jti}, true
	}
	tagged, ok := strings.CutPrefix(rest, "{u:")
	if !ok {
		return revocation.Entry{}, false
	}
	enc, tail, ok := strings.Cut(tagged, "}")
	if !ok {
		return revocation.Entry{}, false
	}
	if tail == ":cut" {
		sub, err := base64.RawURLEncoding.DecodeString(enc)
		if err != nil {
			return revocation.Entry{}, false
		}
		return revocation.Entry{Kind: revocation.KindSubject, Value: string(sub)}, true
	}
	if sid, ok := strings.CutPrefix(tail, ":s:"); ok {
		if sid, ok := strings.CutSuffix(sid, ":revoked"); ok {
			return revocation.Entry{Kind: revocation.KindSession, Value: sid}, true
		}
	}
	return revocation.Entry{}, false
}

// Since implements revocation.Store. A cursor more than revocation.History behind the stream's
// newest ID may have been trimmed, so it is gone; the comparison uses the
// stream's own clock, and is read in the same round trip as the range.
// Once the count bound has trimmed the stream (entries-added, Redis 7,
// exceeds its length), a cursor before its first entry is gone too: the
// events after it may have been dropped. At the very edge (trimmed up to
// exactly the cursor) that sends a reader to a snapshot it did not need,
// the safe side.
func (s *Store) Since(caller context.Context, cursor string) ([]revocation.Event, error) {
	if _, _, err := revocation.ParseCursor(cursor); err != nil {
		return nil, err
	}
	ctx, cancel := s.ctx(caller)
	defer cancel()
	var info *redis.XInfoStreamCmd
	var rng *redis.XMessageSliceCmd
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		info = p.XInfoStream(ctx, s.FeedKey())
		rng = p.XRangeN(ctx, s.FeedKey(), "("+cursor, "+", revocation.SinceBatch)
		return nil
	})
	if err != nil && !isNoSuchKey(info.Err()) {
		return nil, failed(caller, "since", err)
	}
	if isNoSuchKey(info.Err()) {
		// Nothing revoked for revocation.History, or nothing yet: a cursor made by
		// Snapshot within revocation.History is still good.
		now, err := s.c.Time(ctx).Result()
		if err != nil {
			return nil, failed(caller, "since", err)
		}
		// A cursor from the future was not made here: wait for nothing.
		if curMS, _, _ := revocation.ParseCursor(cursor); curMS < now.Add(-revocation.History).UnixMilli() || curMS > now.UnixMilli() {
			return nil, revocation.ErrCursorGone
		}
		return nil, nil
	}
	lastMS, lastSeq, _ := revocation.ParseCursor(info.Val().LastGeneratedID)
	curMS, curSeq, _ := revocation.ParseCursor(cursor)
	if curMS < lastMS-revocation.History.Milliseconds() {
		return nil, revocation.ErrCursorGone
	}
	// Ahead of every ID the stream has made: a cursor we did not give out
	// (or one a failover lost). Its reader would wait for events that come
	// only after it, if ever; send it to a snapshot instead.
	if curMS > lastMS || curMS == lastMS && curSeq > lastSeq {
		return nil, revocation.ErrCursorGone
	}
	if v := info.Val(); v.EntriesAdded > v.Length {
		if firstMS, firstSeq, err := revocation.ParseCursor(v.FirstEntry.ID); err == nil && (curMS < firstMS || curMS == firstMS && curSeq < firstSeq) {
			return nil, revocation.ErrCursorGone
		}
	}
	out := make([]revocation.Event, 0, len(rng.Val()))
	for _, m := range rng.Val() {
		out = append(out, revocation.Event{Cursor: m.ID, Entry: entryOfMessage(m)})
	}
	return out, nil
}

// entryOfMessage reads a feed stream entry; fields it cannot read stay zero
// (a zero ExpiresAt: a mirror drops it, a feed reader sees 0).
func entryOfMessage(m redis.XMessage) revocation.Entry {
	e := revocation.Entry{Kind: str(m.Values["kind"]), Value: str(m.Values["value"])}
	if nb, err := strconv.ParseInt(str(m.Values["nb"]), 10, 64); err == nil && e.Kind == revocation.KindSubject {
		e.NotBefore = time.Unix(nb, 0)
	}
	if exp, err := strconv.ParseInt(str(m.Values["exp"]), 10, 64); err == nil {
		e.ExpiresAt = time.UnixMilli(exp)
	}
	return e
}

func isNoSuchKey(err error) bool { return err != nil && strings.Contains(err.Error(), "no such key") }

func str(v any) string {
	s, _ := v.(string)
	return s
}

// scanPage is the SCAN COUNT hint: about how many keys one page, and
// so one pipelined batch of Snapshot, holds.
const scanPage = 1000

// scan calls page with each SCAN page of keys under the prefix, on every
// master of a cluster in turn (so page is never called concurrently).
// Every SCAN call has its own op timeout.
func (s *Store) scan(caller context.Context, page func(c *redis.Client, keys []string) error) error {
	nodes, err := s.masters(caller)
	if err != nil {
		return err
	}
	pattern := globEscape(s.prefix) + "*"
	for _, c := range nodes {
		var cur uint64
		for {
			ctx, cancel := s.ctx(caller)
			keys, next, err := c.Scan(ctx, cur, pattern, scanPage).Result()
			cancel()
			if err != nil {
				return err
			}
			if len(keys) > 0 {
				if err := page(c, keys); err != nil {
					return err
				}
			}
			if next == 0 {
				break
			}
			cur = next
		}
	}
	return nil
}

// masters lists the servers to scan: the one server, or a cluster's
// masters.
func (s *Store) masters(caller context.Context) ([]*redis.Client, error) {
	switch c := s.c.(type) {
	case *redis.ClusterClient:
		ctx, cancel := s.ctx(caller)
		defer cancel()
		var mu sync.Mutex
		var out []*redis.Client
		err := c.ForEachMaster(ctx, func(_ context.Context, m *redis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			out = append(out, m)
			return nil
		})
		return out, err
	case *redis.Client:
		return []*redis.Client{c}, nil
	}
	return nil, errUnscannable
}

// globEscape quotes the characters SCAN MATCH treats specially.
func globEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`, `]`, `\]`).Replace(s)
}

// Keys counts the store's keys under its prefix but the feed (which
// expires revocation.History after its last event), for tests and operators.
func (s *Store) Keys(ctx context.Context) (int, error) {
	n := 0
	err := s.scan(ctx, func(_ *redis.Client, keys []string) error {
		for _, key := range keys {
			if key != s.FeedKey() {
				n++
			}
		}
		return nil
	})
	if err != nil {
		return 0, unavailable("scan", err)
	}
	return n, nil
}

// ms is a TTL in whole milliseconds, at least 1 (PX 0 is an error).
func ms(d time.Duration) int64 { return max(1, d.Milliseconds()) }
