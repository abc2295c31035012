package resource_test

import (
	"context"
	"testing"
)

// BenchmarkVerify is one signature check and the claims, without a
// Denylist: the cost the denylist lookup is compared with.
func BenchmarkVerify(b *testing.B) {
	for _, alg := range []string{"ES256", "EdDSA", "RS256"} {
		b.Run(alg, func(b *testing.B) {
			f := newFixture(b, alg)
			f.opts.Denylist = nil
			f.rebuild(b)
			raw, _ := f.accessToken(b)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.v.Verify(ctx, raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
