package token_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jwtd/jwtd/token"
)

// TestVerifyRefusesFoldedNames forges every kind of token with the real
// key and a second spelling of each owned name, before and after the real
// one, and with exact repeats: every one is ErrDuplicateClaim.
func TestVerifyRefusesFoldedNames(t *testing.T) {
	f := newFixture(t, "ES256")
	ctx := context.Background()
	n := 0
	for _, k := range f.kinds() {
		if err := k.verify(ctx, forgeRaw(t, k.ring, k.typ, k.base(""))); err != nil {
			t.Fatalf("%s(as jwtd mints it): %v", k.name, err)
		}
		for _, name := range ownedNames {
			member := func(n string) string { return fmt.Sprintf("%q:%s", n, f.valueFor(name)) }
			payloads := map[string]string{
				"exact repeat": k.base(member(name) + "," + member(name)),
			}
			for _, v := range foldVariants(name) {
				payloads[v+" last"] = k.base(member(v))
				payloads[v+" first"] = "{" + member(v) + "," + strings.TrimPrefix(k.base(""), "{")
			}
			for row, payload := range payloads {
				err := k.verify(ctx, forgeRaw(t, k.ring, k.typ, payload))
				if !errors.Is(err, token.ErrDuplicateClaim) {
					t.Errorf("%s(%s %s): err = %v, want %v\npayload %s", k.name, name, row, err, token.ErrDuplicateClaim, payload)
				}
				n++
			}
		}
	}
	t.Logf("%d forged tokens refused", n)
}

// TestVerifyClaimNames covers the other ways to spell a repeat, and names
// that only look like one.
func TestVerifyClaimNames(t *testing.T) {
	f := newFixture(t, "ES256")
	ctx := context.Background()
	many := func(n int, last string) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, `"c%d":%d,`, i, i)
		}
		return b.String() + last
	}
	tests := []struct {
		kind, name, extra string
		want              error
	}{
		{"access", "empty SID after sid (outlives logout)", `"SID":""`, token.ErrDuplicateClaim},
		{"access", "Sub after sub", `"Sub":"root"`, token.ErrDuplicateClaim},
		{"access", "exact sub twice", `"sub":"root"`, token.ErrDuplicateClaim},
		{"access", "escaped Sub", `"\u0053ub":"root"`, token.ErrDuplicateClaim},
		{"access", "escaped exact sub", `"s\u0075b":"root"`, token.ErrDuplicateClaim},
		{"access", "long s in scope", `"\u017Fcope":"admin"`, token.ErrDuplicateClaim},
		{"access", "custom claim twice", `"tenant":"evil"`, token.ErrDuplicateClaim},
		{"access", "custom claim folded", `"Tenant":"evil"`, token.ErrDuplicateClaim},
		{"access", "kelvin sign custom", `"kind":1,"\u212Aind":2`, token.ErrDuplicateClaim},
		{"access", "many custom then a repeat", many(20, `"C7":1`), token.ErrDuplicateClaim},
		{"access", "many custom then an exact repeat", many(20, `"c19":1`), token.ErrDuplicateClaim},
		{"access", "many custom", many(20, `"last":1`), nil},
		{"access", "dotless i is not a fold", `"\u0131ss":"x"`, nil},
		{"access", "whitespace around names", ` "role" : "x" `, nil},
		{"refresh", "ext with sub", `"ext":{"sub":"root"}`, token.ErrReservedClaim},
		{"refresh", "ext with Sub", `"ext":{"Sub":"root"}`, token.ErrReservedClaim},
		{"refresh", "ext with SID", `"ext":{"SID":""}`, token.ErrReservedClaim},
		{"refresh", "ext with access_aud", `"ext":{"Access_Aud":"x"}`, token.ErrReservedClaim},
		{"refresh", "ext with empty name", `"ext":{"":1}`, token.ErrReservedClaim},
		{"refresh", "ext with a fold repeat", `"ext":{"tenant":1,"TENANT":2}`, token.ErrDuplicateClaim},
		{"refresh", "ext with an exact repeat", `"ext":{"tenant":1,"tenant":2}`, token.ErrDuplicateClaim},
		{"refresh", "ext twice", `"ext":{"tenant":"b"}`, token.ErrDuplicateClaim},
		{"refresh", "ext null", `"ext":null`, token.ErrMalformed},
		{"code", "ext with exp", `"ext":{"eXp":1}`, token.ErrReservedClaim},
		{"code", "ext with a fold repeat", `"ext":{"a":1,"A":2}`, token.ErrDuplicateClaim},
		{"code", "Code_challenge", `"Code_challenge":"x"`, token.ErrDuplicateClaim},
	}
	kinds := map[string]kind{}
	for _, k := range f.kinds() {
		kinds[k.name] = k
	}
	for _, tt := range tests {
		t.Run(tt.kind+" "+tt.name, func(t *testing.T) {
			k := kinds[tt.kind]
			payload := k.base(tt.extra)
			if strings.HasPrefix(tt.extra, `"ext"`) {
				payload = strings.Replace(k.base(""), `"ext":{"tenant":"acme"}`, tt.extra, 1)
				if tt.name == "ext twice" {
					payload = k.base(tt.extra)
				}
			}
			err := k.verify(ctx, forgeRaw(t, k.ring, k.typ, payload))
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("%s(%s): err = %v, want %v", k.name, payload, err, tt.want)
			}
		})
	}
	// The custom claims survive the check, each under its exact name.
	c, err := f.verifier.Access(ctx, forgeRaw(t, f.access, token.TypeAccess, kinds["access"].base(many(20, `"\u0131ss":"x"`))))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Extra) != 22 || string(c.Extra["c19"]) != "19" || string(c.Extra["\u0131ss"]) != `"x"` || string(c.Extra["tenant"]) != `"acme"` {
		t.Fatalf("Access(22 custom claims): Extra = %s", c.Extra)
	}
}

// TestCustomClaimsRoundTrip: custom claims jwtd mints come back from every
// verifier exactly, whatever their names need in JSON (escapes, non-ASCII,
// lengths past any owned name) and however many there are.
func TestCustomClaimsRoundTrip(t *testing.T) {
	f := newFixture(t, "ES256")
	ctx := context.Background()
	claims := map[string]json.RawMessage{
		"a<b&c>":                     json.RawMessage(`"html"`),
		"quote\"back\\slash":         json.RawMessage(`1`),
		"\u017Feat":                  json.RawMessage(`{"nested":{"sub":"x","Sub":"y"}}`),
		"\u0131ss":                   json.RawMessage(`[1,"]",{"}":2}]`),
		strings.Repeat("long", 30):   json.RawMessage(`null`),
		"emoji \U0001F600":           json.RawMessage(`true`),
		"tab\tin name":               json.RawMessage(`-1.5e3`),
		"sub_not_sub":                json.RawMessage(`"x"`),
		"iss2":                       json.RawMessage(`"x"`),
		"roles":                      json.RawMessage(`["a","b"]`),
		"x-custom":                   json.RawMessage(`""`),
		strings.Repeat("\u212A", 20): json.RawMessage(`0`),
	}
	s := f.session()
	s.Claims = claims
	p, err := f.issuer.Mint(s, f.issuer.NewStamp(), true)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	ac, err := f.verifier.Access(ctx, p.Access)
	if err != nil {
		t.Fatalf("Access: %v", err)
	}
	rc, err := f.verifier.Refresh(ctx, p.Refresh)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	code, _, err := f.issuer.MintCode(s, "")
	if err != nil {
		t.Fatalf("MintCode: %v", err)
	}
	cc, err := f.verifier.Code(ctx, code)
	if err != nil {
		t.Fatalf("Code: %v", err)
	}
	for name, got := range map[string]map[string]json.RawMessage{"Access": ac.Extra, "Refresh": rc.Claims, "Code": cc.Claims} {
		if len(got) != len(claims) {
			t.Errorf("%s: %d custom claims, want %d: %q", name, len(got), len(claims), got)
		}
		for k, v := range claims {
			if string(got[k]) != string(v) {
				t.Errorf("%s: claim %q = %s, want %s", name, k, got[k], v)
			}
		}
	}
}
