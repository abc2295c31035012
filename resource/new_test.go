package resource_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtd/jwtd/internal/testlog"

	"github.com/jwtd/jwtd/keys/jwks"
	"github.com/jwtd/jwtd/resource"
	"github.com/jwtd/jwtd/revocation"
)

// TestNewOptions: a Config New cannot work with fails before any request.
func TestNewOptions(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		http.NotFound(w, nil)
	}))
	defer srv.Close()
	good := resource.Config{Issuer: srv.URL, Audiences: []string{"api"}, ClientID: "gateway", ClientSecret: "s",
		Logger: slog.New(slog.DiscardHandler)}
	tests := []struct {
		name string
		edit func(*resource.Config)
		want error
	}{
		{"no client id", func(c *resource.Config) { c.ClientID = "" }, resource.ErrOptions},
		{"no client secret", func(c *resource.Config) { c.ClientSecret = "" }, resource.ErrOptions},
		{"no issuer", func(c *resource.Config) { c.Issuer = "" }, resource.ErrOptions},
		{"no audience", func(c *resource.Config) { c.Audiences = nil }, resource.ErrOptions},
		{"negative leeway", func(c *resource.Config) { c.Leeway = -time.Second }, resource.ErrOptions},
		{"negative start timeout", func(c *resource.Config) { c.StartTimeout = -time.Second }, resource.ErrOptions},
		{"plain http off loopback", func(c *resource.Config) { c.Issuer = "http://auth.example" }, jwks.ErrInsecureURL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.edit(&c)
			if _, err := resource.New(context.Background(), c); !errors.Is(err, tt.want) {
				t.Fatalf("New(%s): err = %v, want %v", tt.name, err, tt.want)
			}
		})
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("New sent %d requests for configurations it refuses", n)
	}
}

const feedSecret = "feed-secret-4f1c9a"

// TestNewFeedRefused: keys found, but the feed refuses the credentials (as
// jwtd does a client without the introspect grant): New fails within
// StartTimeout, saying why, instead of a Verifier that refuses every token.
func TestNewFeedRefused(t *testing.T) {
	f := newFixture(t, "ES256")
	var feedCalls atomic.Int32
	mux := http.NewServeMux()
	var base string
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q}`, base, base+"/.well-known/jwks.json")
	})
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, _ *http.Request) {
		body, _ := f.access.JWKS()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	mux.HandleFunc("GET /v1/revocations", func(w http.ResponseWriter, r *http.Request) {
		feedCalls.Add(1)
		if id, secret, ok := r.BasicAuth(); !ok || id != "gateway" || secret != feedSecret {
			t.Errorf("feed request without the client's Basic credentials")
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="jwtd", charset="UTF-8"`)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":"invalid_client","error_description":"client authentication failed"}`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	base = srv.URL
	var logs testlog.Buffer
	cfg := resource.Config{Issuer: base, Audiences: []string{"api"}, ClientID: "gateway", ClientSecret: feedSecret,
		StartTimeout: 2 * time.Second, Logger: slog.New(slog.NewJSONHandler(&logs, nil))}
	v, err := resource.New(context.Background(), cfg)
	if !errors.Is(err, revocation.ErrUnavailable) || v != nil {
		t.Fatalf("New(feed answers 401): %v, %v; want ErrUnavailable", v, err)
	}
	if feedCalls.Load() == 0 || !strings.Contains(logs.String(), "revocation feed unreachable") {
		t.Errorf("New(feed answers 401): %d feed calls, logs %s; want the outage logged", feedCalls.Load(), logs.String())
	}
	if strings.Contains(logs.String(), feedSecret) {
		t.Errorf("the log holds the client secret: %s", logs.String())
	}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	cfg.StartTimeout = time.Minute
	if _, err := resource.New(ctx, cfg); !errors.Is(err, context.Canceled) {
		t.Fatalf("New(ctx cancelled while waiting): err = %v, want %v", err, context.Canceled)
	}
}
