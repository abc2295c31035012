package token_test

import (
	"context"
	"testing"
)

func BenchmarkMint(b *testing.B) {
	for _, alg := range []string{"ES256", "EdDSA", "RS256"} {
		b.Run(alg, func(b *testing.B) {
			f := newFixture(b, alg)
			s := f.session()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.issuer.Mint(s, f.issuer.NewGrant(), true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerifyAccess(b *testing.B) {
	for _, alg := range []string{"ES256", "EdDSA", "RS256"} {
		b.Run(alg, func(b *testing.B) {
			f := newFixture(b, alg)
			p := f.mint(b)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.verifier.Access(ctx, p.Access); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
