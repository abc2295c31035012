package jwks

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// maxKeys bounds the entries of a key set: jwtd publishes two or three, and
// a set of thousands is a mistake or an attack, each entry costing a parse.
const maxKeys = 1000

// algorithms are the JWS algorithms jwtd signs with (keys.Algorithms; this
// package may not import keys, and a test keeps the two lists equal).
var algorithms = []string{"ES256", "ES384", "EdDSA", "RS256", "PS256"}

// RSA moduli outside these bounds are skipped: below 2048 bits is weak
// (NIST SP 800-131A), and a huge one makes each verification slow.
const (
	minRSABits = 2048
	maxRSABits = 8192
)

// verifier is one usable key of the set.
type verifier struct {
	key crypto.PublicKey
	alg string
}

// parseSet reads a JWK Set (RFC 7517 §5) into kid → key, keeping only keys
// that verify a signature jwtd makes. The "keys" member is required (jwx
// would read a lone JWK as a set of one). A key is skipped, not fatal, when
// jwx cannot read it, it has no kid, its alg is missing or not one jwtd
// signs with (the algorithm comes from the key, never from a token: RFC 8725
// §3.1), its use or key_ops exclude verification, its material does not fit
// its alg, or it holds private material (a published private key lets anyone
// sign). A kid that names two usable keys is ambiguous and dropped with
// both, rather than trusting whichever came first (RFC 7517 §4.5).
func parseSet(body []byte) (map[string]verifier, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	raw, ok := top["keys"]
	if !ok {
		return nil, fmt.Errorf(`%w: no "keys" member`, ErrMalformed)
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil || list == nil {
		return nil, fmt.Errorf(`%w: "keys" is not an array`, ErrMalformed)
	}
	if len(list) > maxKeys {
		return nil, fmt.Errorf("%w: %d keys, at most %d", ErrTooLarge, len(list), maxKeys)
	}
	out := make(map[string]verifier, len(list))
	ambiguous := map[string]bool{}
	for _, entry := range list {
		kid, v, ok := usable(entry)
		if !ok || ambiguous[kid] {
			continue
		}
		if _, dup := out[kid]; dup {
			delete(out, kid)
			ambiguous[kid] = true
			continue
		}
		out[kid] = v
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %d entries, none usable", ErrNoUsableKey, len(list))
	}
	return out, nil
}

// usable returns the kid and key of one JWK, or false if it is to be skipped.
func usable(entry json.RawMessage) (string, verifier, bool) {
	k, err := jwk.ParseKey(entry)
	if err != nil {
		return "", verifier{}, false
	}
	kid, alg := k.KeyID(), k.Algorithm().String()
	if kid == "" || !slices.Contains(algorithms, alg) {
		return "", verifier{}, false
	}
	if use := k.KeyUsage(); use != "" && use != "sig" {
		return "", verifier{}, false
	}
	if ops := k.KeyOps(); ops != nil && !slices.Contains(ops, jwk.KeyOpVerify) {
		return "", verifier{}, false
	}
	var pub any
	if err := k.Raw(&pub); err != nil || !fits(alg, pub) {
		return "", verifier{}, false
	}
	return kid, verifier{key: pub, alg: alg}, true
}

// fits reports whether pub is a valid public key of the type alg verifies
// with. Private keys are not public keys, so they never fit.
func fits(alg string, pub any) bool {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if _, err := k.ECDH(); err != nil { // not a point of the curve
			return false
		}
		return (alg == "ES256" && k.Curve == elliptic.P256()) || (alg == "ES384" && k.Curve == elliptic.P384())
	case ed25519.PublicKey:
		return alg == "EdDSA" && len(k) == ed25519.PublicKeySize
	case *rsa.PublicKey:
		if k.N == nil {
			return false
		}
		bits := k.N.BitLen()
		return (alg == "RS256" || alg == "PS256") && bits >= minRSABits && bits <= maxRSABits && k.E >= 3 && k.E%2 == 1
	}
	return false
}
