package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"
)

// cryptoResult is one raw operation measured with testing.Benchmark.
type cryptoResult struct {
	name     string
	perOp    time.Duration
	allocsOp int64
	err      error
}

// rsaBits is the size of jwtd's RS256 keys.
const rsaBits = 3072

// rawCrypto measures golang-jwt's Sign and Verify per algorithm, on a
// signing input the size of a jwtd access token, in this process.
func rawCrypto() []cryptoResult {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return []cryptoResult{{name: "ES256", err: err}}
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return []cryptoResult{{name: "EdDSA", err: err}}
	}
	rs, err := rsa.GenerateKey(rand.Reader, rsaBits)
	if err != nil {
		return []cryptoResult{{name: "RS256", err: err}}
	}
	s := &floorSigner{key: ec}
	tok, err := s.sign("at+jwt", time.Hour)
	if err != nil {
		return []cryptoResult{{name: "ES256", err: err}}
	}
	input := tok[:strings.LastIndexByte(tok, '.')] // header.payload of a real token

	algs := []struct {
		name   string
		method jwt.SigningMethod
		priv   crypto.Signer
	}{
		{"ES256", jwt.SigningMethodES256, ec},
		{"EdDSA", jwt.SigningMethodEdDSA, ed},
		{"RS256 (3072-bit)", jwt.SigningMethodRS256, rs},
	}
	var out []cryptoResult
	for _, a := range algs {
		sig, err := a.method.Sign(input, a.priv)
		if err != nil {
			out = append(out, cryptoResult{name: a.name + " sign", err: err})
			continue
		}
		out = append(out,
			benchOp(a.name+" sign", func() error { _, err := a.method.Sign(input, a.priv); return err }),
			benchOp(a.name+" verify", func() error { return a.method.Verify(input, sig, a.priv.Public()) }),
		)
	}
	return out
}

var errBenchFailed = errors.New("bench: benchmark did not run")

// benchOp measures op with testing.Benchmark; the first error stops it.
func benchOp(name string, op func() error) cryptoResult {
	var err error
	r := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err = op(); err != nil {
				b.Fatal(err)
			}
		}
	})
	if r.N == 0 && err == nil {
		err = errBenchFailed
	}
	return cryptoResult{name: name, perOp: time.Duration(r.NsPerOp()), allocsOp: r.AllocsPerOp(), err: err}
}

// redisRTT measures one go-redis PING round trip on one connection.
func redisRTT(ctx context.Context, addr string) cryptoResult {
	c := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 1, ContextTimeoutEnabled: true})
	defer c.Close()
	return benchOp("Redis round trip (go-redis PING, one connection)", func() error { return c.Ping(ctx).Err() })
}
