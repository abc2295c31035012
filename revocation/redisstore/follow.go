package redisstore

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jwtd/jwtd/revocation"
)

// followBlock is how long one blocking read of the feed waits for an
// event; an idle read that returns proves the mirror current, so a
// mirror following a healthy Redis is never more than this stale.
const followBlock = time.Second

// followVerify is how often Follow checks its cursor with Since even when
// nothing failed: XREAD silently skips events that MAXLEN trimmed, Since
// notices.
const followVerify = 30 * time.Second

// Follow keeps m a current copy of the store's denylist until ctx ends: a
// snapshot, then the feed stream by blocking reads (XREAD BLOCK), so an
// event reaches m one round trip after it is written and an idle stream
// proves m current every second. A cursor that is gone (trimmed, or ahead
// of the stream after a failover) means a fresh snapshot, merged into what
// m holds. After a failure it first catches up with Since, which notices a
// gone cursor, then blocks again; failures are retried with a backoff of
// up to two seconds and logged once per outage on log (nil: slog.Default).
//
// Run one Follow per mirror; every replica of jwtd runs its own.
func (s *Store) Follow(ctx context.Context, m *revocation.Mirror, log *slog.Logger) {
	if log == nil {
		log = slog.Default()
	}
	f := follower{s: s, m: m, log: log, verify: true}
	for ctx.Err() == nil {
		if err := f.step(ctx); err != nil && ctx.Err() == nil {
			f.failed(ctx, err)
			continue
		}
		f.recovered(ctx)
	}
}

type follower struct {
	s        *Store
	m        *revocation.Mirror
	log      *slog.Logger
	verify   bool      // check the cursor with Since before blocking
	verified time.Time // when it last did
	swept    time.Time
	backoff  time.Duration
	down     bool // an outage has been logged
}

func (f *follower) step(ctx context.Context) error {
	if now := time.Now(); now.Sub(f.swept) > time.Minute {
		f.swept = now
		f.m.Sweep()
	}
	cursor := f.m.Cursor()
	if cursor == "" {
		if err := f.m.Load(func(emit func(revocation.Entry) error) (string, error) { return f.s.Snapshot(ctx, emit) }); err != nil {
			return err
		}
		f.verify, f.verified = false, time.Now()
		return nil
	}
	if f.verify || time.Since(f.verified) > followVerify {
		evs, err := f.s.Since(ctx, cursor)
		switch {
		case errors.Is(err, revocation.ErrCursorGone):
			f.m.Forget()
			return nil
		case err != nil:
			return err
		}
		f.m.Apply(evs...)
		if len(evs) == revocation.SinceBatch {
			return nil // more behind them
		}
		f.m.Touch()
		f.verify, f.verified = false, time.Now()
		return nil
	}
	bctx, cancel := context.WithTimeout(ctx, followBlock+f.s.opTimeout)
	defer cancel()
	res, err := f.s.c.XRead(bctx, &redis.XReadArgs{Streams: []string{f.s.FeedKey(), cursor}, Count: revocation.SinceBatch, Block: followBlock}).Result()
	switch {
	case errors.Is(err, redis.Nil):
		f.m.Touch() // nothing new until now
		return nil
	case err != nil:
		f.verify = true
		return failed(ctx, "follow", err)
	}
	var evs []revocation.Event
	for _, st := range res {
		for _, msg := range st.Messages {
			evs = append(evs, revocation.Event{Cursor: msg.ID, Entry: entryOfMessage(msg)})
		}
	}
	// XREAD silently skips what the stream trimmed after cursor (a replica
	// paused while more than MAXLEN revocations came, or for longer than
	// History): ask the stream whether it deleted anything after cursor.
	// If it did, or cannot say, the events are merged as the revocations
	// they are, but not as a continuation of the feed (the mirror's log of
	// recent events would have a hole): a fresh snapshot follows.
	gap, err := f.s.trimmedAfter(ctx, cursor)
	if err != nil || gap {
		f.m.Forget()
		for _, ev := range evs {
			f.m.Merge(ev.Entry)
		}
		if err != nil {
			return err
		}
		f.log.LogAttrs(ctx, slog.LevelWarn, "revocation mirror fell behind the trimmed feed stream; taking a fresh snapshot",
			slog.String("cursor", cursor))
		return nil
	}
	f.m.Apply(evs...)
	if len(evs) < revocation.SinceBatch {
		f.m.Touch()
	}
	return nil
}

// trimmedAfter says whether the feed stream may have lost an entry after
// cursor: deleted (max-deleted-entry-id) or trimmed (entries-added beyond
// length, and the first entry left later than cursor).
func (s *Store) trimmedAfter(caller context.Context, cursor string) (bool, error) {
	ctx, cancel := s.ctx(caller)
	defer cancel()
	info, err := s.c.XInfoStream(ctx, s.FeedKey()).Result()
	if err != nil {
		if isNoSuchKey(err) {
			return false, nil
		}
		return false, failed(caller, "follow", err)
	}
	cur, ok := revocation.ParsePosition(cursor)
	if !ok {
		return true, nil
	}
	// An XDEL after the cursor (Redis records the highest one)...
	if del, ok := revocation.ParsePosition(info.MaxDeletedEntryID); ok && del.After(cur) {
		return true, nil
	}
	// ...or a trim (MAXLEN, MINID: always the oldest entries, and not
	// recorded as deletions) that reached past it: the first entry left
	// is then after the cursor. When the trim stopped just at the cursor
	// this says "gap" too, and costs a snapshot: the safe side.
	if first, ok := revocation.ParsePosition(info.FirstEntry.ID); ok && info.EntriesAdded > info.Length {
		return first.After(cur), nil
	}
	return false, nil
}

func (f *follower) failed(ctx context.Context, err error) {
	if !f.down {
		f.down = true
		f.log.LogAttrs(ctx, slog.LevelWarn, "revocation mirror cannot follow Redis; retrying",
			slog.String("error", err.Error()), slog.Duration("staleness", f.m.Staleness()))
	}
	f.backoff = min(max(2*f.backoff, 100*time.Millisecond), 2*time.Second)
	t := time.NewTimer(f.backoff)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (f *follower) recovered(ctx context.Context) {
	f.backoff = 0
	if f.down {
		f.down = false
		f.log.LogAttrs(ctx, slog.LevelInfo, "revocation mirror follows Redis again")
	}
}
