package revocation

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// FeedOptions configure FollowFeed.
type FeedOptions struct {
	// URL is jwtd's feed: the issuer followed by /v1/revocations.
	URL string
	// ClientID and ClientSecret are a confidential client's with the
	// introspect grant, sent with HTTP Basic (RFC 6749 §2.3.1).
	ClientID, ClientSecret string
	// HTTPClient makes the requests; nil means one with connect, TLS and
	// response-header timeouts and no overall timeout (a stream lives for
	// hours). A client with a Timeout cuts every stream at it.
	HTTPClient *http.Client
	// IdleTimeout is how long a stream may send nothing (no event, no
	// heartbeat) before it is dropped and opened again; zero means 20 s,
	// four of jwtd's default heartbeats.
	IdleTimeout time.Duration
	// Logger gets one line per outage and one per recovery; nil means
	// slog.Default().
	Logger *slog.Logger
}

// stableStream is how long a stream must last to reset the backoff.
const stableStream = 10 * time.Second

// feedWaitHook, when set (by tests), sees each wait before a reconnect.
var feedWaitHook func(time.Duration)

// maxFeedLine bounds every line of the stream but a snapshot's data,
// which is read as it arrives and never held whole.
const maxFeedLine = 64 << 10

// FollowFeed keeps m a copy of jwtd's denylist from its feed until ctx ends,
// over HTTP, needing nothing but the URL and a client with the introspect
// grant: the snapshot, then each revocation as it comes, resuming with
// Last-Event-ID after a drop (jwtd answers a cursor it cannot resume from,
// a gap or another process's, with a fresh snapshot, merged into m). Each
// event and heartbeat proves m current (jwtd sends heartbeats only while
// its own view of the denylist is). Failures are retried with a backoff of
// up to five seconds, longer after a 401 or 403 and as Retry-After says
// after a 429 or 503, and logged once per outage.
//
// It returns an error at once when the options cannot work, and ctx's
// error when ctx ends.
func FollowFeed(ctx context.Context, m *Mirror, opts FeedOptions) error {
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("revocation: feed URL %q must be an absolute http(s) URL", opts.URL)
	}
	if opts.ClientID == "" {
		return errors.New("revocation: feed needs a client id (a confidential client with the introspect grant)")
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = defaultFeedClient()
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 20 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	f := &feedFollower{m: m, opts: opts}
	var backoff time.Duration
	down := false
	var logged time.Time
	for ctx.Err() == nil {
		began := time.Now()
		wait, err := f.stream(ctx)
		if ctx.Err() != nil {
			break
		}
		// Only a stream that delivered and lasted resets the backoff: one
		// that brings a snapshot and drops (a proxy cutting responses) is
		// retried ever more slowly, not five times a second.
		if f.received && time.Since(began) >= stableStream {
			backoff = 0
			if down {
				down = false
				opts.Logger.LogAttrs(ctx, slog.LevelInfo, "revocation feed followed again", slog.String("url", opts.URL))
			}
		}
		// One line per outage, and one a minute while it lasts, with the
		// latest cause (the first is often just the stream's end).
		if err != nil && (!down || time.Since(logged) >= time.Minute) {
			msg := "revocation feed unreachable; retrying"
			if down {
				msg = "revocation feed still unreachable; retrying"
			}
			down, logged = true, time.Now()
			opts.Logger.LogAttrs(ctx, slog.LevelWarn, msg,
				slog.String("url", opts.URL), slog.String("error", err.Error()), slog.Duration("staleness", m.Staleness()))
		}
		backoff = min(max(2*backoff, 100*time.Millisecond), 5*time.Second)
		d := max(wait, backoff)
		d += rand.N(d/5 + 1) // spread the reconnects of many verifiers
		if feedWaitHook != nil {
			feedWaitHook(d)
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	return ctx.Err()
}

func defaultFeedClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 5 * time.Second
	t.ResponseHeaderTimeout = 30 * time.Second // a large snapshot may take a while to start
	return &http.Client{Transport: t}
}

type feedFollower struct {
	m        *Mirror
	opts     FeedOptions
	received bool // the last stream delivered at least one event
}

// stream follows one connection until it ends. wait is how long the
// server asked us to stay away (Retry-After), or a long pause for refused
// credentials.
func (f *feedFollower) stream(parent context.Context) (wait time.Duration, err error) {
	f.received = false
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.opts.URL, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	creds := url.QueryEscape(f.opts.ClientID) + ":" + url.QueryEscape(f.opts.ClientSecret)
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(creds)))
	if c := f.m.Cursor(); c != "" {
		req.Header.Set("Last-Event-ID", c)
	}
	res, err := f.opts.HTTPClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 4<<10))
		switch res.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return time.Minute, fmt.Errorf("feed refused the credentials of %q: %s (it needs a confidential client with the introspect grant)", f.opts.ClientID, res.Status)
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
			return retryAfter(res.Header.Get("Retry-After")), fmt.Errorf("feed answered %s", res.Status)
		}
		return 0, fmt.Errorf("feed answered %s", res.Status)
	}
	if mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type")); mt != "text/event-stream" {
		return 0, fmt.Errorf("feed answered %q, not text/event-stream", res.Header.Get("Content-Type"))
	}
	idle := time.AfterFunc(f.opts.IdleTimeout, cancel)
	defer idle.Stop()
	body := bufio.NewReaderSize(&idleReader{r: res.Body, t: idle, d: f.opts.IdleTimeout}, 32<<10)
	err = f.read(body)
	if ctx.Err() != nil && parent.Err() == nil {
		err = fmt.Errorf("feed sent nothing for %s", f.opts.IdleTimeout)
	}
	return 0, err
}

// idleReader restarts its timer at every read that brings bytes.
type idleReader struct {
	r io.Reader
	t *time.Timer
	d time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.t.Reset(r.d)
	}
	return n, err
}

// read parses Server-Sent Events (the WHATWG HTML "event stream" rules:
// field: value lines, a comment line starting with ':', an event
// dispatched at a blank line) and applies them to the mirror.
func (f *feedFollower) read(r *bufio.Reader) error {
	var id, event string
	var data []byte
	loaded := false // a snapshot's data line was loaded into the mirror
	for {
		if event == "snapshot" && !loaded {
			// The snapshot's data comes as one line of any length: load it as
			// it arrives.
			if ok, err := f.snapshotLine(r); err != nil {
				return err
			} else if ok {
				loaded = true
				continue
			}
		}
		line, err := readLine(r)
		if err != nil {
			return err
		}
		if len(line) == 0 { // dispatch
			if event == "revocation" && len(data) > 0 {
				e, err := parseFeedEntry(data)
				if err != nil {
					return err
				}
				if id != "" {
					f.m.Apply(Event{Cursor: id, Entry: e})
				} else {
					f.m.Merge(e)
				}
				f.received = true
				f.m.Touch()
			} else if event == "snapshot" && loaded {
				f.received = true
			}
			event, data, loaded = "", nil, false
			continue
		}
		if line[0] == ':' { // a comment: jwtd's heartbeat
			if f.m.Cursor() != "" {
				f.m.Touch()
			}
			continue
		}
		name, value, _ := strings.Cut(string(line), ":")
		value = strings.TrimPrefix(value, " ")
		switch name {
		case "event":
			event = value
		case "data":
			if len(data)+len(value) > maxFeedLine {
				return fmt.Errorf("feed event longer than %d bytes", maxFeedLine)
			}
			if len(data) > 0 {
				data = append(data, '\n') // SSE joins data lines with LF
			}
			data = append(data, value...)
		case "id":
			// An id no header could carry back (a control character) or
			// longer than any cursor is ignored, as SSE ignores one with NUL.
			if validFeedID(value) {
				id = value
			}
		}
	}
}

// maxFeedID bounds an event id: jwtd's cursors are a few dozen bytes.
const maxFeedID = 256

func validFeedID(id string) bool {
	if len(id) > maxFeedID {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// snapshotLine loads a "data:" line of a snapshot event straight into the
// mirror. ok is false when the next line is not a data line (it is left
// unread).
func (f *feedFollower) snapshotLine(r *bufio.Reader) (ok bool, err error) {
	head, err := r.Peek(5)
	if err != nil || string(head) != "data:" {
		return false, nil // readLine reports any error
	}
	_, _ = r.Discard(5)
	if b, _ := r.Peek(1); len(b) == 1 && b[0] == ' ' {
		_, _ = r.Discard(1)
	}
	line := &lineReader{r: r}
	err = f.m.Load(func(emit func(Entry) error) (string, error) { return decodeSnapshot(line, emit) })
	if err != nil {
		return false, fmt.Errorf("feed snapshot: %w", err)
	}
	// Whatever follows the JSON on its line (nothing, from jwtd) is skipped.
	if _, err := io.Copy(io.Discard, line); err != nil {
		return false, err
	}
	return true, nil
}

// lineReader reads up to (and consumes) the end of the current line.
type lineReader struct {
	r    *bufio.Reader
	done bool
}

func (l *lineReader) Read(p []byte) (int, error) {
	if l.done {
		return 0, io.EOF
	}
	if l.r.Buffered() == 0 {
		if _, err := l.r.Peek(1); err != nil { // fill the buffer
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF // the line never ended
			}
			return 0, err
		}
	}
	chunk, _ := l.r.Peek(min(len(p), l.r.Buffered()))
	if i := bytes.IndexByte(chunk, '\n'); i >= 0 {
		n := copy(p, bytes.TrimSuffix(chunk[:i], []byte("\r")))
		_, _ = l.r.Discard(i + 1)
		l.done = true
		return n, nil
	}
	n := copy(p, chunk)
	_, _ = l.r.Discard(n)
	return n, nil
}

// decodeSnapshot reads {"entries":[...],"cursor":"..."} one entry at a
// time.
func decodeSnapshot(r io.Reader, emit func(Entry) error) (string, error) {
	dec := json.NewDecoder(r)
	if err := expectDelim(dec, '{'); err != nil {
		return "", err
	}
	cursor := ""
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", err
		}
		switch tok {
		case "entries":
			if err := expectDelim(dec, '['); err != nil {
				return "", err
			}
			for dec.More() {
				var fe feedEntryJSON
				if err := dec.Decode(&fe); err != nil {
					return "", err
				}
				e, err := fe.entry()
				if err != nil {
					return "", err
				}
				if err := emit(e); err != nil {
					return "", err
				}
			}
			if err := expectDelim(dec, ']'); err != nil {
				return "", err
			}
		case "cursor":
			if err := dec.Decode(&cursor); err != nil {
				return "", err
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return "", err
			}
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return "", err
	}
	if cursor == "" {
		return "", errors.New("snapshot has no cursor")
	}
	return cursor, nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != want {
		return fmt.Errorf("snapshot: want %q, got %v", want, tok)
	}
	return nil
}

// feedEntryJSON is an entry as the feed writes it (docs/api.md).
type feedEntryJSON struct {
	Kind      string `json:"kind"`
	Value     string `json:"value"`
	NotBefore *int64 `json:"not_before"`
	ExpiresAt int64  `json:"expires_at"`
}

func (fe feedEntryJSON) entry() (Entry, error) {
	if fe.Kind == "" || fe.Value == "" || fe.ExpiresAt <= 0 {
		return Entry{}, fmt.Errorf("feed entry %+v lacks kind, value or expires_at", fe)
	}
	e := Entry{Kind: fe.Kind, Value: fe.Value, ExpiresAt: time.Unix(fe.ExpiresAt, 0)}
	if fe.Kind == KindSubject {
		if fe.NotBefore == nil {
			return Entry{}, fmt.Errorf("feed entry for subject %q lacks not_before", fe.Value)
		}
		e.NotBefore = time.Unix(*fe.NotBefore, 0)
	}
	return e, nil
}

func parseFeedEntry(data []byte) (Entry, error) {
	var fe feedEntryJSON
	if err := json.Unmarshal(data, &fe); err != nil {
		return Entry{}, fmt.Errorf("feed event: %w", err)
	}
	return fe.entry()
}

// readLine reads one line without its CRLF or LF, at most maxFeedLine long.
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > maxFeedLine {
			return nil, fmt.Errorf("feed line longer than %d bytes", maxFeedLine)
		}
		switch {
		case err == nil:
			line = bytes.TrimSuffix(line[:len(line)-1], []byte("\r"))
			return line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(line) > 0:
			return nil, io.ErrUnexpectedEOF
		default:
			return nil, err
		}
	}
}

// retryAfter reads a Retry-After of delay-seconds, bounded to a minute.
func retryAfter(v string) time.Duration {
	s, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || s < 0 {
		return time.Second
	}
	return min(time.Duration(s)*time.Second, time.Minute)
}
