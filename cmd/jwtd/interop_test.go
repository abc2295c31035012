package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// TestInteropGo: coreos/go-oidc configures itself from the issuer and
// verifies an access token; golang.org/x/oauth2 refreshes through
// /oauth/token and runs client credentials.
func TestInteropGo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	p := startAtIssuer(t, buildBinary(t), shippedConfigDir(t))
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, p.base)
	if err != nil {
		t.Fatalf("oidc.NewProvider(%s): %v", p.base, err)
	}
	verifier := provider.Verifier(&oidc.Config{ClientID: "api"})
	s := loginPair(t, p.base)
	tok, err := verifier.Verify(ctx, s.AccessToken)
	if err != nil || tok.Subject != "alice" {
		t.Fatalf("go-oidc Verify(access token) = %v, %v", tok, err)
	}
	if _, err := verifier.Verify(ctx, s.RefreshToken); err == nil {
		t.Fatal("go-oidc verified a refresh token")
	}
	if _, err := provider.Verifier(&oidc.Config{ClientID: "billing"}).Verify(ctx, s.AccessToken); err == nil {
		t.Fatal("go-oidc accepted the token for another audience")
	}

	conf := &oauth2.Config{ClientID: "dev-app", Endpoint: oauth2.Endpoint{TokenURL: provider.Endpoint().TokenURL, AuthStyle: oauth2.AuthStyleInParams}}
	refreshed, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: s.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token()
	if err != nil {
		t.Fatalf("oauth2 refresh: %v", err)
	}
	if refreshed.RefreshToken == "" || refreshed.RefreshToken == s.RefreshToken || refreshed.TokenType != "Bearer" || refreshed.Expiry.Before(time.Now()) {
		t.Fatalf("oauth2 refresh gave %+v", refreshed)
	}
	if sid, _ := refreshed.Extra("session_id").(string); sid != s.SessionID {
		t.Fatalf("refresh left the session: %q", sid)
	}
	if _, err := verifier.Verify(ctx, refreshed.AccessToken); err != nil {
		t.Fatalf("go-oidc Verify(refreshed access token): %v", err)
	}
	// The header auth style sends the public client as Basic "dev-app:".
	header := *conf
	header.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
	if refreshed, err = header.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshed.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token(); err != nil {
		t.Fatalf("oauth2 refresh with AuthStyleInHeader: %v", err)
	}
	// The spent refresh token again, after the grace window has no say: it
	// is a reuse only once its child is spent; spend the child first.
	if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshed.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token(); err != nil {
		t.Fatalf("oauth2 second refresh: %v", err)
	}
	_, err = conf.TokenSource(ctx, &oauth2.Token{RefreshToken: s.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" || re.Response.StatusCode != 400 {
		t.Fatalf("oauth2 reuse: err = %v, want a 400 invalid_grant RetrieveError", err)
	}

	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		cc := clientcredentials.Config{ClientID: "dev-backend", ClientSecret: devSecret, TokenURL: provider.Endpoint().TokenURL, Scopes: []string{"read"}, AuthStyle: style}
		ct, err := cc.Token(ctx)
		if err != nil {
			t.Fatalf("client credentials (auth style %d): %v", style, err)
		}
		if ct.RefreshToken != "" {
			t.Fatalf("client credentials gave a refresh token")
		}
		id, err := verifier.Verify(ctx, ct.AccessToken)
		if err != nil || id.Subject != "dev-backend" {
			t.Fatalf("go-oidc Verify(client credentials token) = %v, %v", id, err)
		}
	}
	bad := clientcredentials.Config{ClientID: "dev-backend", ClientSecret: "wrong", TokenURL: provider.Endpoint().TokenURL}
	if _, err := bad.Token(ctx); !errors.As(err, &re) || re.ErrorCode != "invalid_client" || re.Response.StatusCode != 401 {
		t.Fatalf("client credentials with a wrong secret: %v, want 401 invalid_client", err)
	}
}

// TestInteropNode runs jose and openid-client (cmd/jwtd/testdata/node,
// installed with npm ci from its lock file) against a real jwtd. Without
// Node.js on the machine this test, and only this one, is skipped.
func TestInteropNode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	node, dir := nodeDeps(t, "the Node interop test (jose, openid-client)")
	p := startAtIssuer(t, buildBinary(t), shippedConfigDir(t))
	s := loginPair(t, p.base)
	cmd := exec.Command(node, "interop.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "JWTD_ISSUER="+p.base, "ACCESS_TOKEN="+s.AccessToken, "REFRESH_TOKEN="+s.RefreshToken)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "node interop: ok") {
		t.Fatalf("node interop.mjs: %v\n%s", err, out)
	}
}
