package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/jwtd/jwtd/revocation"
)

type feedEntry struct {
	Kind      string `json:"kind"`
	Value     string `json:"value"`
	NotBefore *int64 `json:"not_before,omitempty"`
	ExpiresAt int64  `json:"expires_at"`
}

type feedSnapshot struct {
	Cursor  string      `json:"cursor"`
	Entries []feedEntry `json:"entries"`
}

func toFeedEntry(e revocation.Entry) feedEntry {
	out := feedEntry{Kind: e.Kind, Value: e.Value, ExpiresAt: e.ExpiresAt.Unix()}
	if e.Kind == revocation.KindSubject {
		nb := e.NotBefore.Unix()
		out.NotBefore = &nb
	}
	return out
}

func toFeedSnapshot(s revocation.Snapshot) feedSnapshot {
	out := feedSnapshot{Cursor: s.Cursor, Entries: make([]feedEntry, 0, len(s.Entries))}
	for _, e := range s.Entries {
		out.Entries = append(out.Entries, toFeedEntry(e))
	}
	return out
}

// feedHeartbeat keeps idle event streams alive through proxies.
const feedHeartbeat = 15 * time.Second

// revocations is GET /v1/revocations: the live denylist for verifiers in
// any language, as a JSON snapshot or as a Server-Sent Events stream (the
// snapshot, then each revocation, every event's id a cursor).
func (s *Server) revocations(c echo.Context) error {
	if _, err := s.confidential(c, nil, GrantIntrospect); err != nil {
		return err
	}
	stream, ok := acceptsFeed(c.Request().Header.Get(echo.HeaderAccept))
	if !ok {
		return &Error{Status: http.StatusNotAcceptable, Code: "invalid_request", Description: "Accept must be application/json or text/event-stream"}
	}
	ctx := c.Request().Context()
	if !stream {
		snap, err := s.opts.Store.Snapshot(ctx)
		if err != nil {
			s.countStoreError("snapshot", err)
			return err
		}
		c.Response().Header().Set("Cache-Control", "no-store")
		return c.JSON(http.StatusOK, toFeedSnapshot(snap))
	}
	return s.streamRevocations(c)
}

// acceptsFeed reads Accept: text/event-stream asks for the stream;
// JSON, a wildcard or no Accept at all for the snapshot.
func acceptsFeed(accept string) (stream, ok bool) {
	if strings.TrimSpace(accept) == "" {
		return false, true
	}
	for _, part := range strings.Split(accept, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
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
	ctx := c.Request().Context()
	var pending []revocation.Event
	var snap *revocation.Snapshot
	cursor := c.Request().Header.Get("Last-Event-ID")
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
		sn, err := s.opts.Store.Snapshot(ctx)
		if err != nil {
			s.countStoreError("snapshot", err)
			return err
		}
		snap, cursor = &sn, sn.Cursor
	}

	res := c.Response()
	// The server's WriteTimeout would cut a long-lived stream.
	if err := http.NewResponseController(res).SetWriteDeadline(time.Time{}); err != nil {
		return err
	}
	h := res.Header()
	h.Set(echo.HeaderContentType, "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	res.WriteHeader(http.StatusOK)

	poll := time.NewTicker(s.opts.FeedPoll)
	defer poll.Stop()
	beat := time.NewTicker(feedHeartbeat)
	defer beat.Stop()
	// more says the last Since had events, so there may be more behind
	// them: ask again at once instead of waiting for the tick. A reader
	// behind a burst of revocations catches up in one go, and a new one
	// is never queued behind seconds of batches.
	more := len(pending) > 0
	for {
		if snap != nil {
			if err := writeEvent(res, snap.Cursor, "snapshot", toFeedSnapshot(*snap)); err != nil {
				return nil // the client went away
			}
			snap = nil
		}
		for _, e := range pending {
			if err := writeEvent(res, e.Cursor, "revocation", toFeedEntry(e.Entry)); err != nil {
				return nil
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
				if _, err := fmt.Fprint(res, ": keep-alive\n\n"); err != nil {
					return nil
				}
				res.Flush()
				continue
			case <-poll.C:
			}
		}
		evs, err := s.opts.Store.Since(ctx, cursor)
		more = err == nil && len(evs) > 0
		switch {
		case err == nil:
			pending = evs
		case errors.Is(err, revocation.ErrCursorGone):
			// Fell behind the history: start over from a snapshot.
			if sn, err := s.opts.Store.Snapshot(ctx); err == nil {
				snap, cursor = &sn, sn.Cursor
			}
		default:
			s.countStoreError("since", err) // try again at the next tick
		}
	}
}

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
