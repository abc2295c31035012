package token_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/jwtd/jwtd/token"
)

func BenchmarkMint(b *testing.B) {
	for _, alg := range []string{"ES256", "EdDSA", "RS256"} {
		b.Run(alg, func(b *testing.B) {
			f := newFixture(b, alg)
			s := f.session()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.issuer.Mint(s, f.issuer.NewStamp(), true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyAccess verifies a minted access token: the signature,
// the claim-name check (one pass over the names) and the lifetime checks.
// The ES256 token with 0 or 12 custom claims shows what the name check
// costs as they grow (past eight it keeps a map of folded names).
func BenchmarkVerifyAccess(b *testing.B) {
	run := func(b *testing.B, alg string, claims map[string]json.RawMessage) {
		f := newFixture(b, alg)
		s := f.session()
		if claims != nil {
			s.Claims = claims
		}
		p, err := f.issuer.Mint(s, f.issuer.NewStamp(), true)
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := f.verifier.Access(ctx, p.Access); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, alg := range []string{"ES256", "EdDSA", "RS256"} {
		b.Run(alg, func(b *testing.B) { run(b, alg, nil) })
	}
	for _, n := range []int{0, 12} {
		claims := map[string]json.RawMessage{}
		for i := range n {
			claims[fmt.Sprintf("claim%d", i)] = json.RawMessage(`"value"`)
		}
		b.Run(fmt.Sprintf("ES256/claims=%d", n), func(b *testing.B) { run(b, "ES256", claims) })
	}
}

// BenchmarkVerifyRefresh verifies a minted refresh token, the first step
// of every refresh (the store's spend and the new pair follow).
func BenchmarkVerifyRefresh(b *testing.B) {
	for _, alg := range []string{"ES256", "EdDSA", "RS256"} {
		b.Run(alg, func(b *testing.B) {
			f := newFixture(b, alg)
			p := f.mint(b)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.verifier.Refresh(ctx, p.Refresh); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkClaimNames compares the one-pass name check on a minted access
// token's payload with the json.Unmarshal into a map it replaced; compare
// the two within one run.
func BenchmarkClaimNames(b *testing.B) {
	f := newFixture(b, "ES256")
	p := f.mint(b)
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(p.Access, ".")[1])
	if err != nil {
		b.Fatal(err)
	}
	b.Run("CheckClaims", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := token.CheckClaims(payload); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json.Unmarshal map", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var all map[string]json.RawMessage
			if err := json.Unmarshal(payload, &all); err != nil {
				b.Fatal(err)
			}
		}
	})
}
