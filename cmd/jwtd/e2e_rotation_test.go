package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtd/jwtd/keys/jwks"
	"github.com/jwtd/jwtd/token"
)

// headerKID reads the kid of a JWS compact token.
func headerKID(t *testing.T, raw string) string {
	head, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Errorf("token header: %v", err)
		return ""
	}
	var h struct {
		KID string `json:"kid"`
	}
	_ = json.Unmarshal(b, &h)
	return h.KID
}

// TestRotationFollowedByTheGoVerifier runs jwtd with a one-second JWKS
// max-age and keeps a Go verifier (keys/jwks + token.Verifier, what the
// resource package runs) verifying fresh tokens from several goroutines
// while jwtd rotates its keys three times (once right after another, so
// the new key is one the verifier has not fetched yet: its unknown kid
// makes it refetch) and then retires the active key (revoke_current).
// Not one valid token may fail, and once the verifier's set has been
// refreshed after the retirement, not one token of the retired key may
// pass.
func TestRotationFollowedByTheGoVerifier(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	p := startJWTD(t, bin, shippedConfigDir(t), "JWTD_KEYS_JWKS_MAX_AGE=1s", "JWTD_KEYS_PUBLISH_AHEAD=2s")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	set, err := jwks.New(ctx, p.base+"/.well-known/jwks.json", jwks.Options{MinRefresh: time.Second, MaxRefresh: time.Second, UnknownKIDInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	v := token.NewVerifier(token.Options{Issuer: "http://localhost:8080", Audiences: []string{"api"}, Leeway: 30 * time.Second,
		AccessTTL: 15 * time.Minute, SessionMaxAge: 30 * 24 * time.Hour}, set, nil)

	// The minter logs in continuously; the newest tokens wait in pool.
	var mu sync.Mutex
	var pool []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			code, _, body := call(t, "POST", p.base+"/v1/sessions", basicAuth("dev-backend", devSecret), `{"sub":"alice","client_id":"dev-app","scope":"read"}`)
			if code != 201 {
				t.Errorf("login: %d %s", code, body)
				return
			}
			var tr pair
			_ = json.Unmarshal(body, &tr)
			mu.Lock()
			pool = append(pool, tr.AccessToken)
			if len(pool) > 32 {
				pool = pool[1:]
			}
			mu.Unlock()
			time.Sleep(2 * time.Millisecond)
		}
	}()

	// The retired key, when it was retired, and when the verifier's set
	// was first refreshed after that.
	var retired atomic.Value // string
	retired.Store("")
	var retiredAt, refreshedAt atomic.Int64
	type result struct {
		kid      string
		started  time.Time
		accepted bool
		err      error
	}
	// The pool as it was just before the retirement: verified beside the
	// fresh tokens from then on, so that tokens of the retired key are still
	// being verified when the verifier's set refreshes, however soon the
	// minter's pool has moved on to the new key.
	var beforeRetirement atomic.Pointer[[]string]
	results := make(chan result, 1<<16)
	var verified atomic.Int64
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				if len(pool) == 0 {
					mu.Unlock()
					time.Sleep(time.Millisecond)
					continue
				}
				raw := pool[len(pool)-1-i%len(pool)]
				mu.Unlock()
				if old := beforeRetirement.Load(); old != nil && i%2 == 1 {
					raw = (*old)[i/2%len(*old)]
				}
				started := time.Now()
				_, err := v.Access(context.Background(), raw)
				verified.Add(1)
				select {
				case results <- result{kid: headerKID(t, raw), started: started, accepted: err == nil, err: err}:
				default: // the checker below keeps up; a full buffer only drops samples
				}
			}
		}()
	}
	// Watch the set: when it is first refreshed after the retirement.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if at := retiredAt.Load(); at != 0 && refreshedAt.Load() == 0 && set.LastRefresh().UnixNano() > at+int64(200*time.Millisecond) {
				refreshedAt.Store(time.Now().UnixNano())
			}
		}
	}()

	rotate := func(body string) (active, revoked string) {
		t.Helper()
		code, _, out := call(t, "POST", p.base+"/v1/admin/keys/rotate", basicAuth("dev-backend", devSecret), body)
		if code != 200 {
			t.Fatalf("rotate: %d %s", code, out)
		}
		var r struct {
			Active  string `json:"active_kid"`
			Revoked string `json:"revoked_kid"`
		}
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatal(err)
		}
		return r.Active, r.Revoked
	}
	kids := map[string]bool{}
	time.Sleep(time.Second)
	for _, pause := range []time.Duration{2500 * time.Millisecond, 200 * time.Millisecond, 2500 * time.Millisecond} {
		active, _ := rotate("")
		kids[active] = true
		time.Sleep(pause)
	}
	mu.Lock()
	old := slices.Clone(pool)
	mu.Unlock()
	beforeRetirement.Store(&old)
	retiredAt.Store(time.Now().UnixNano())
	active, revoked := rotate(`{"revoke_current": true, "purpose": "access"}`)
	if revoked == "" {
		t.Fatal("revoke_current retired no key")
	}
	retired.Store(revoked)
	kids[active] = true
	time.Sleep(4 * time.Second)
	close(stop)
	wg.Wait()
	close(results)

	var failed, acceptedRetired, refusedRetired int
	seen := map[string]int{}
	var firstErr error
	for r := range results {
		if r.kid == revoked && !r.started.Before(time.Unix(0, retiredAt.Load())) {
			if r.accepted && refreshedAt.Load() != 0 && r.started.After(time.Unix(0, refreshedAt.Load())) {
				acceptedRetired++
			}
			if !r.accepted {
				refusedRetired++
			}
			continue
		}
		if r.kid == revoked {
			if r.accepted {
				seen[r.kid]++ // before the retirement: valid then
			}
			continue
		}
		if !r.accepted {
			failed++
			if firstErr == nil {
				firstErr = fmt.Errorf("kid %s: %w", r.kid, r.err)
			}
			continue
		}
		seen[r.kid]++
	}
	if refreshedAt.Load() == 0 {
		t.Fatal("the verifier's set was never refreshed after the retirement")
	}
	t.Logf("%d verifications; retired key refused by the verifier %s after its retirement; valid tokens per kid: %v",
		verified.Load(), time.Duration(refreshedAt.Load()-retiredAt.Load()).Round(time.Millisecond), seen)
	if failed > 0 {
		t.Errorf("%d verifications of valid tokens failed; the first: %v", failed, firstErr)
	}
	if acceptedRetired > 0 {
		t.Errorf("%d tokens of the retired key %s accepted after the set was refreshed", acceptedRetired, revoked)
	}
	if refusedRetired == 0 {
		t.Errorf("no token of the retired key was ever refused: the test did not see the retirement")
	}
	delete(kids, revoked) // its tokens were counted above
	for kid := range kids {
		if seen[kid] == 0 {
			t.Errorf("no token of the key %s (activated by a rotation) was verified", kid)
		}
	}
}
