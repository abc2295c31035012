package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// Algorithms lists the JWS algorithms jwtd signs with, in the order the
// configuration documents them.
var Algorithms = []string{"ES256", "ES384", "EdDSA", "RS256", "PS256"}

// rsaBits is the modulus size for RS256 and PS256: 3072 bits gives about
// 128-bit security (NIST SP 800-57 Part 1, table 2), matching P-256.
const rsaBits = 3072

// Purpose separates the two key families. Access keys are published in the
// JWKS; refresh keys never are, so no JWKS-verifying gateway can accept a
// refresh token as an access token.
type Purpose string

// The two purposes.
const (
	Access  Purpose = "access"
	Refresh Purpose = "refresh"
)

// Key is one signing key and the two instants its state derives from.
type Key struct {
	ID          string // RFC 7638 JWK thumbprint (SHA-256, base64url)
	Algorithm   string
	Purpose     Purpose
	PublishedAt time.Time // when it was created and (for access keys) published
	ActivatesAt time.Time // when it starts signing
	Private     crypto.Signer
}

// Public returns the public half of k.
func (k *Key) Public() crypto.PublicKey { return k.Private.Public() }

// Generate makes a new key for alg. Its ID is the RFC 7638 thumbprint of its
// public half, so the kid is derived from the key and can never collide with
// another key's.
func Generate(alg string, purpose Purpose, publishedAt, activatesAt time.Time) (*Key, error) {
	var (
		priv crypto.Signer
		err  error
	)
	switch alg {
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ES384":
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "EdDSA":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case "RS256", "PS256":
		priv, err = rsa.GenerateKey(rand.Reader, rsaBits)
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedAlgorithm, alg)
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", alg, err)
	}
	kid, err := Thumbprint(priv.Public())
	if err != nil {
		return nil, err
	}
	return &Key{ID: kid, Algorithm: alg, Purpose: purpose, PublishedAt: publishedAt, ActivatesAt: activatesAt, Private: priv}, nil
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of pub, base64url
// without padding.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	k, err := jwk.FromRaw(pub)
	if err != nil {
		return "", fmt.Errorf("jwk from public key: %w", err)
	}
	sum, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("jwk thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}

// publicJWK is the JWKS entry for k: public members, kid, alg and use only.
func (k *Key) publicJWK() (jwk.Key, error) {
	pk, err := jwk.FromRaw(k.Public())
	if err != nil {
		return nil, fmt.Errorf("jwk from key %s: %w", k.ID, err)
	}
	for name, v := range map[string]any{jwk.KeyIDKey: k.ID, jwk.AlgorithmKey: jwa.SignatureAlgorithm(k.Algorithm), jwk.KeyUsageKey: "sig"} {
		if err := pk.Set(name, v); err != nil {
			return nil, fmt.Errorf("jwk set %s: %w", name, err)
		}
	}
	return pk, nil
}

// fileMeta is what jwtd keeps beside the JWK members in a key file.
type fileMeta struct {
	KeyID       string    `json:"kid"`
	Algorithm   string    `json:"alg"`
	Purpose     Purpose   `json:"jwtd_purpose"`
	PublishedAt time.Time `json:"jwtd_published_at"`
	ActivatesAt time.Time `json:"jwtd_activates_at"`
}

// MarshalPrivate encodes k as a private JWK (RFC 7517) with jwtd's lifecycle
// members added; it is the format of the file store.
func MarshalPrivate(k *Key) ([]byte, error) {
	pk, err := jwk.FromRaw(k.Private)
	if err != nil {
		return nil, fmt.Errorf("jwk from key %s: %w", k.ID, err)
	}
	raw, err := json.Marshal(pk)
	if err != nil {
		return nil, fmt.Errorf("encode key %s: %w", k.ID, err)
	}
	var members map[string]any
	if err := json.Unmarshal(raw, &members); err != nil {
		return nil, fmt.Errorf("encode key %s: %w", k.ID, err)
	}
	members["kid"] = k.ID
	members["alg"] = k.Algorithm
	members["use"] = "sig"
	members["jwtd_purpose"] = k.Purpose
	members["jwtd_published_at"] = k.PublishedAt.UTC().Format(time.RFC3339Nano)
	members["jwtd_activates_at"] = k.ActivatesAt.UTC().Format(time.RFC3339Nano)
	return json.MarshalIndent(members, "", "  ")
}

// UnmarshalPrivate decodes what MarshalPrivate wrote. It checks that the kid
// is the key's thumbprint and that the key type fits the algorithm, so a file
// edited by hand cannot make jwtd sign with a key its kid does not name.
func UnmarshalPrivate(data []byte) (*Key, error) {
	var meta fileMeta
	if err := json.Unmarshal(data, &meta); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	pk, err := jwk.ParseKey(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	var raw any
	if err := pk.Raw(&raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	priv, ok := raw.(crypto.Signer)
	if !ok || !fits(meta.Algorithm, priv) {
		return nil, fmt.Errorf("%w: key type does not fit alg %q", ErrCorrupt, meta.Algorithm)
	}
	if meta.Purpose != Access && meta.Purpose != Refresh {
		return nil, fmt.Errorf("%w: purpose %q", ErrCorrupt, meta.Purpose)
	}
	if meta.PublishedAt.IsZero() || meta.ActivatesAt.IsZero() {
		return nil, fmt.Errorf("%w: missing lifecycle times", ErrCorrupt)
	}
	kid, err := Thumbprint(priv.Public())
	if err != nil {
		return nil, err
	}
	if kid != meta.KeyID {
		return nil, fmt.Errorf("%w: kid %q is not the key's thumbprint", ErrCorrupt, meta.KeyID)
	}
	return &Key{ID: kid, Algorithm: meta.Algorithm, Purpose: meta.Purpose, PublishedAt: meta.PublishedAt, ActivatesAt: meta.ActivatesAt, Private: priv}, nil
}

// fits reports whether priv is the key type alg signs with.
func fits(alg string, priv crypto.Signer) bool {
	switch k := priv.(type) {
	case *ecdsa.PrivateKey:
		return (alg == "ES256" && k.Curve == elliptic.P256()) || (alg == "ES384" && k.Curve == elliptic.P384())
	case ed25519.PrivateKey:
		return alg == "EdDSA"
	case *rsa.PrivateKey:
		return (alg == "RS256" || alg == "PS256") && k.N.BitLen() >= 2048
	}
	return false
}

// etag is a strong entity tag (RFC 9110 §8.8.3) for body.
func etag(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
}
