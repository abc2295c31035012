package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/jwtd/jwtd/clients"
	"github.com/jwtd/jwtd/revocation"
)

type feedEntry struct {
	Kind      string `json:"kind"`
	Value     string `json:"value"`
	NotBefore *int64 `json:"not_before,omitempty"`
	ExpiresAt int64  `json:"expires_at"`
}

func toFeedEntry(e revocation.Entry) feedEntry {
	out := feedEntry{Kind: e.Kind, Value: e.Value, ExpiresAt: e.ExpiresAt.Unix()}
	if e.Kind == revocation.KindSubject {
		nb := e.NotBefore.Unix()
		out.NotBefore = &nb
	}
	return out
}

// snapshotWindow is how long writing the next snapshotFlush entries of a
// JSON snapshot may take: a snapshot of a million entries outlasts the
// server's write timeout, a reader that stops reading does not get to
// hold the connection.
const (
	snapshotWindow = 30 * time.Second
	snapshotFlush  = 1000
)

// snapshotWriter writes a snapshot as the store emits it, never holding
// it in memory: head, the entries comma-separated, and then (by the
// caller) the tail with the cursor, which the store knows only at the end.
// start runs before the first byte, so a store that fails before the
// first entry still gets a clean 503.
type snapshotWriter struct {
	w       io.Writer
	head    string
	start   func() error
	every   func() // after each snapshotFlush entries; may be nil
	started bool
	n       int
}

func (sw *snapshotWriter) begin() error {
	if sw.started {
		return nil
	}
	sw.started = true
	if err := sw.start(); err != nil {
		return err
	}
	_, err := io.WriteString(sw.w, sw.head)
	return err
}

func (sw *snapshotWriter) emit(e revocation.Entry) error {
	if err := sw.begin(); err != nil {
		return err
	}
	if sw.n > 0 {
		if _, err := io.WriteString(sw.w, ","); err != nil {
			return err
		}
	}
	sw.n++
	if sw.n%snapshotFlush == 0 && sw.every != nil {
		sw.every()
	}
	data, err := json.Marshal(toFeedEntry(e))
	if err != nil {
		return err
	}
	_, err = sw.w.Write(data)
	return err
}

// snapshotTail closes the entries and adds the cursor.
func snapshotTail(cursor string) string {
	q, _ := json.Marshal(cursor)
	return `],"cursor":` + string(q) + `}`
}

// revocations is GET /v1/revocations: the live denylist for verifiers in
// any language, as a JSON snapshot or as a Server-Sent Events stream (the
// snapshot, then each revocation, every event's id a cursor).
func (s *Server) revocations(c echo.Context) error {
	if _, err := s.confidential(c, nil, clients.GrantIntrospect); err != nil {
		return err
	}
	stream, ok := acceptsFeed(c.Request().Header.Get(echo.HeaderAccept))
	if !ok {
		return &Error{Status: http.StatusNotAcceptable, Code: codeInvalidRequest, Description: "Accept must be application/json or text/event-stream"}
	}
	if !stream {
		return s.snapshotJSON(c)
	}
	return s.streamRevocations(c)
}

// snapshotJSON writes {"entries":[...],"cursor":"..."} as the store
// reads it. The cursor comes last because the store knows it only once
// the scan is done; it is still taken before the scan, so anything revoked
// during it is in the feed after the cursor. A store failure before the
// first entry is a 503; after it the body is cut short, which no JSON
// reader takes for a snapshot.
func (s *Server) snapshotJSON(c echo.Context) error {
	res := c.Response()
	rc := http.NewResponseController(res)
	extend := func() { _ = rc.SetWriteDeadline(time.Now().Add(snapshotWindow)) }
	sw := &snapshotWriter{w: res, head: `{"entries":[`, every: extend, start: func() error {
		extend()
		res.Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
		res.Header().Set("Cache-Control", "no-store")
		res.WriteHeader(http.StatusOK)
		return nil
	}}
	release, err := s.snapshotSlot(c.Request().Context())
	if err != nil {
		return err
	}
	defer release()
	cursor, err := s.opts.Store.Snapshot(c.Request().Context(), sw.emit)
	if err == nil {
		err = sw.begin()
	}
	if err != nil {
		s.countStoreError("snapshot", err)
		if sw.started {
			s.abortCutShort(c, err)
		}
		return err
	}
	_, err = io.WriteString(res, snapshotTail(cursor))
	return err
}

// abortCutShort ends an answer whose 200 is already on the wire when the
// store fails mid-way: the connection is closed without the end of the
// chunked body (http.ErrAbortHandler), so every HTTP client reports an
// error instead of reading a cut-short document as complete.
func (s *Server) abortCutShort(c echo.Context, err error) {
	if errors.Is(err, context.Canceled) {
		panic(http.ErrAbortHandler) // the client is gone anyway
	}
	s.log.LogAttrs(c.Request().Context(), slog.LevelWarn, "revocation snapshot cut short; connection aborted",
		slog.String("request_id", requestID(c)), slog.String("error", logValue(err.Error())))
	panic(http.ErrAbortHandler)
}

// acceptsFeed reads Accept: text/event-stream asks for the stream;
// JSON, a wildcard or no Accept at all for the snapshot.
func acceptsFeed(accept string) (stream, ok bool) {
	if strings.TrimSpace(accept) == "" {
		return false, true
	}
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if q, err := strconv.ParseFloat(params["q"], 64); err == nil && q <= 0 {
			continue // q=0: not acceptable (RFC 9110 §12.4.2)
		}
		switch mt {
		case "text/event-stream":
			return true, true
		case "application/json", "application/*", "*/*":
			ok = true
		}
	}
	return false, ok
}

func (s *Server) streamRevocations(c echo.Context) error {
	if s.streams.Add(1) > int64(s.opts.MaxStreams) {
		s.streams.Add(-1)
		return &Error{Status: http.StatusServiceUnavailable, Code: codeTemporarilyUnavailable, Description: "too many open event streams; retry later"}
	}
	defer s.streams.Add(-1)
	ctx := c.Request().Context()
	res := c.Response()
	rc := http.NewResponseController(res)
	// live lifts the server's WriteTimeout, which would cut a long-lived
	// stream; heartbeats and events are small.
	live := func() { _ = rc.SetWriteDeadline(time.Time{}) }
	started := false
	start := func() error {
		if started {
			return nil
		}
		started = true
		h := res.Header()
		h.Set(echo.HeaderContentType, "text/event-stream")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Accel-Buffering", "no")
		res.WriteHeader(http.StatusOK)
		return nil
	}
	// snapshot writes a snapshot event as the store reads it; its id
	// line comes after the data, which SSE allows (the event is dispatched
	// at the blank line). wrote says whether any of it was written: a
	// half-written event is never dispatched, and the stream must end.
	var cursor string
	snapshot := func() (wrote bool, err error) {
		release, err := s.snapshotSlot(ctx)
		if err != nil {
			return false, err
		}
		defer release()
		// A client that stops reading must not hold a snapshot slot for
		// ever: the snapshot is written under a deadline, extended as it
		// goes; the stream itself then has none (see live below).
		extend := func() { _ = rc.SetWriteDeadline(time.Now().Add(snapshotWindow)) }
		extend()
		defer live()
		sw := &snapshotWriter{w: res, head: "event: snapshot\ndata: {\"entries\":[", start: start, every: extend}
		cur, err := s.opts.Store.Snapshot(ctx, sw.emit)
		if err == nil {
			err = sw.begin()
		}
		if err != nil {
			return sw.started, err
		}
		cursor = cur
		_, err = fmt.Fprintf(res, "%s\nid: %s\n\n", snapshotTail(cur), cur)
		return true, err
	}

	// A store that says when it has news (the memory store, the mirror of
	// a Redis store) wakes the stream at once. Its channel is always taken
	// before the read it guards, so no event falls between the two.
	watcher, watching := s.opts.Store.(interface{ Changed() <-chan struct{} })
	var changed <-chan struct{}
	if watching {
		changed = watcher.Changed()
	}
	var pending []revocation.Event
	cursor = c.Request().Header.Get("Last-Event-ID")
	if cursor != "" {
		evs, err := s.opts.Store.Since(ctx, cursor)
		switch {
		case err == nil:
			pending = evs // resume without a snapshot
		case errors.Is(err, revocation.ErrCursorGone):
			cursor = ""
		default:
			s.countStoreError("since", err)
			return err
		}
	}
	if cursor == "" {
		if _, err := snapshot(); err != nil {
			s.countStoreError("snapshot", err)
			return err
		}
	}
	live()
	if err := start(); err != nil {
		return err
	}

	// Polling stays as a safety net for a store that wakes us, ten times
	// slower; any other store is polled.
	every := s.opts.FeedPoll
	if watching {
		every *= 10
	}
	poll := time.NewTicker(every)
	defer poll.Stop()
	beat := time.NewTicker(s.opts.FeedHeartbeat)
	defer beat.Stop()
	// more says the last Since was a full batch, so there may be more
	// behind it: ask again at once instead of waiting for the tick. A
	// reader behind a burst of revocations catches up in one go, and a new
	// one is never queued behind seconds of batches. A shorter answer was
	// all there was; what came while it was written has woken the stream.
	more := len(pending) >= revocation.SinceBatch
	var lastRead time.Time
	behind := false // the cursor is gone and no fresh snapshot was written yet
	for {
		for _, e := range pending {
			if err := writeEvent(res, e.Cursor, "revocation", toFeedEntry(e.Entry)); err != nil {
				return nil // the client went away
			}
			cursor = e.Cursor
		}
		pending = nil
		res.Flush()
		if more {
			select {
			case <-ctx.Done():
				return nil
			case <-s.stopping:
				return nil
			default:
			}
		} else {
			select {
			case <-ctx.Done():
				return nil
			case <-s.stopping:
				return nil
			case <-beat.C:
				// No heartbeat while this stream is behind (its cursor is
				// gone and its fresh snapshot failed: it retries now), or
				// while the store cannot vouch for what it holds (a stale
				// mirror, Redis down): the follower's own staleness then
				// grows, and its fail mode decides.
				if behind {
					break
				}
				if s.opts.Store.Ping(ctx) != nil {
					continue
				}
				if _, err := fmt.Fprint(res, ": keep-alive\n\n"); err != nil {
					return nil
				}
				res.Flush()
				continue
			case <-changed:
				// A burst of revocations wakes every stream at each one:
				// each stream reads at most once per feedGap, and a read
				// brings all that came meanwhile, so the store's load is
				// bounded by the streams, not by the rate of revocations.
				if wait := feedGap - time.Since(lastRead); wait > 0 {
					t := time.NewTimer(wait)
					select {
					case <-ctx.Done():
						t.Stop()
						return nil
					case <-s.stopping:
						t.Stop()
						return nil
					case <-t.C:
					}
				}
			case <-poll.C:
			}
		}
		if watching {
			changed = watcher.Changed()
		}
		lastRead = time.Now()
		evs, err := s.opts.Store.Since(ctx, cursor)
		more = err == nil && len(evs) >= revocation.SinceBatch
		switch {
		case err == nil:
			pending, behind = evs, false
		case errors.Is(err, revocation.ErrCursorGone):
			// Fell behind the history: start over from a snapshot.
			wrote, err := snapshot()
			behind = err != nil
			if err != nil {
				s.countStoreError("snapshot", err)
				if wrote {
					return nil // cut mid-event: the client reconnects
				}
			}
		default:
			s.countStoreError("since", err) // try again at the next tick
		}
	}
}

// feedGap is the shortest time between two reads of the store by one
// stream woken by news: a lone revocation is sent at once, a burst in
// batches at most this far apart.
const feedGap = 5 * time.Millisecond

func writeEvent(w http.ResponseWriter, id, event string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "id: %s\nevent: %s\ndata: %s\n\n", id, event, data)
	return err
}

// StopStreams ends every open event stream, so a graceful shutdown need
// not wait for them. Register it with http.Server.RegisterOnShutdown.
func (s *Server) StopStreams() { s.stopOnce.Do(func() { close(s.stopping) }) }

// feedDelayed sorts out a revocation whose feed event is delayed
// (revocation.ErrFeedDelayed): the revocation stands and the store's
// outbox publishes the event later, so it is not a failure of the request.
// It is logged as a warning and counted, and what is left of err is
// returned: nil, or ErrReused for a Spend that detected reuse.
func (s *Server) feedDelayed(c echo.Context, err error) error {
	if !errors.Is(err, revocation.ErrFeedDelayed) {
		return err
	}
	s.metrics.feedFail.Inc()
	s.log.LogAttrs(c.Request().Context(), slog.LevelWarn, "revocation done but its feed event is delayed; the store retries it",
		slog.String("request_id", requestID(c)), slog.String("error", err.Error()))
	if errors.Is(err, revocation.ErrReused) {
		return revocation.ErrReused
	}
	return nil
}

// snapshotSlot waits up to snapshotWait for one of the SnapshotSlots: a
// snapshot scans the whole denylist, and many at once on a large one would
// time out against a healthy Redis and be counted as outages. No slot in
// time is a 503 (the caller retries after Retry-After).
func (s *Server) snapshotSlot(ctx context.Context) (release func(), err error) {
	select {
	case s.snapshots <- struct{}{}:
		return func() { <-s.snapshots }, nil
	default:
	}
	t := time.NewTimer(s.snapshotWait)
	defer t.Stop()
	select {
	case s.snapshots <- struct{}{}:
		return func() { <-s.snapshots }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
		return nil, &Error{Status: http.StatusServiceUnavailable, Code: codeTemporarilyUnavailable, Description: "too many revocation snapshots in progress; retry later"}
	}
}
