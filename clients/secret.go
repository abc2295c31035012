package clients

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/alexedwards/argon2id"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// The bounds ParseSecretHash puts on slow hashes. The floors are the
// weakest settings of OWASP's Password Storage Cheat Sheet (bcrypt cost 10;
// argon2id from 46 MiB × 1 pass to 7 MiB × 5 passes), below which a leaked
// config is cheap to crack. The ceilings keep one failed guess cheap
// enough that slowHashSlots concurrent ones cannot take the process down:
// bcrypt cost 13 is about 0.5 s of one core (each step doubles it), and
// argon2id allocates its whole memory cost per check, so 64 MiB × 4 slots
// bounds the hashes' memory at 256 MiB. RFC 9106 §4's second recommended
// setting (64 MiB, 3 passes, 4 lanes) fits.
const (
	bcryptMinCost, bcryptMaxCost = 10, 13
	argonMinMemoryKiB            = 7 * 1024
	argonMaxMemoryKiB            = 64 * 1024
	argonMinWorkKiB              = 35 * 1024 // memory × iterations
	argonMaxIterations           = 10
	argonMaxParallelism          = 8
	argonMinSaltBytes            = 8  // RFC 9106 §3.1: 16 recommended
	argonMinKeyBytes             = 16 // 128-bit tag
)

// SecretHash is a parsed client secret hash.
type SecretHash struct {
	sum  []byte // sha256: the digest
	slow string // bcrypt or argon2id: the PHC string
	// work estimates the cost of one slow check, in KiB × passes of
	// argon2id; a bcrypt cost c counts as 64 × 2^c, which measures about
	// the same time (cost 10 ≈ 64 MiB × 1 pass ≈ 0.1 s).
	work uint64
}

// ParseSecretHash takes "sha256:<64 lowercase hex>", which suits random
// secrets of 128 bits or more (a fast hash is enough when guessing is
// hopeless), or a bcrypt or argon2id PHC string for chosen secrets, within
// the bounds above (ErrSecretHashParams beyond them).
func ParseSecretHash(s string) (*SecretHash, error) {
	switch {
	case strings.HasPrefix(s, "sha256:"):
		h := strings.TrimPrefix(s, "sha256:")
		sum, err := hex.DecodeString(h)
		if err != nil || len(sum) != sha256.Size || strings.ToLower(h) != h {
			return nil, &HashError{Err: ErrSecretHash}
		}
		return &SecretHash{sum: sum}, nil
	case strings.HasPrefix(s, "$2a$"), strings.HasPrefix(s, "$2b$"), strings.HasPrefix(s, "$2y$"):
		cost, err := bcrypt.Cost([]byte(s))
		if err != nil || len(s) != 60 {
			return nil, &HashError{Err: ErrSecretHash}
		}
		if cost < bcryptMinCost || cost > bcryptMaxCost {
			return nil, paramsError("bcrypt cost %d, want %d to %d", cost, bcryptMinCost, bcryptMaxCost)
		}
		return &SecretHash{slow: s, work: 64 << cost}, nil
	case strings.HasPrefix(s, "$argon2id$"):
		p, _, _, err := argon2id.DecodeHash(s)
		if err != nil {
			return nil, &HashError{Err: ErrSecretHash}
		}
		if err := checkArgon2id(p); err != nil {
			return nil, err
		}
		return &SecretHash{slow: s, work: uint64(p.Memory) * uint64(p.Iterations)}, nil
	}
	return nil, &HashError{Err: ErrSecretHash}
}

func checkArgon2id(p *argon2id.Params) error {
	switch {
	case p.Memory < argonMinMemoryKiB || p.Memory > argonMaxMemoryKiB:
		return paramsError("argon2id memory m=%d KiB, want %d to %d", p.Memory, argonMinMemoryKiB, argonMaxMemoryKiB)
	case p.Iterations < 1 || p.Iterations > argonMaxIterations:
		return paramsError("argon2id iterations t=%d, want 1 to %d", p.Iterations, argonMaxIterations)
	case uint64(p.Memory)*uint64(p.Iterations) < argonMinWorkKiB:
		return paramsError("argon2id m×t = %d KiB, want at least %d (e.g. m=19456,t=2)", uint64(p.Memory)*uint64(p.Iterations), argonMinWorkKiB)
	case p.Parallelism < 1 || p.Parallelism > argonMaxParallelism:
		return paramsError("argon2id parallelism p=%d, want 1 to %d", p.Parallelism, argonMaxParallelism)
	case p.SaltLength < argonMinSaltBytes:
		return paramsError("argon2id salt of %d bytes, want at least %d", p.SaltLength, argonMinSaltBytes)
	case p.KeyLength < argonMinKeyBytes:
		return paramsError("argon2id key of %d bytes, want at least %d", p.KeyLength, argonMinKeyBytes)
	}
	return nil
}

// SHA256Hash returns the sha256: secret_hash of secret.
func SHA256Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// matches compares secret with h in constant time (for sha256; bcrypt and
// argon2id compare in constant time themselves).
func (h *SecretHash) matches(secret string) bool {
	if h.sum != nil {
		sum := sha256.Sum256([]byte(secret))
		return subtle.ConstantTimeCompare(sum[:], h.sum) == 1
	}
	if strings.HasPrefix(h.slow, "$argon2id$") {
		ok, err := argon2id.ComparePasswordAndHash(secret, h.slow)
		return err == nil && ok
	}
	return bcrypt.CompareHashAndPassword([]byte(h.slow), []byte(secret)) == nil
}

// dummyLike returns a hash of the same kind and parameters as h that no
// secret matches, made without hashing: a random salt and digest in h's
// PHC form cost a full check to refute. With no slow hash configured it is
// a sha256 hash.
func dummyLike(h *SecretHash) *SecretHash {
	if h == nil {
		return &SecretHash{sum: make([]byte, sha256.Size)}
	}
	if strings.HasPrefix(h.slow, "$argon2id$") {
		p, salt, key, err := argon2id.DecodeHash(h.slow)
		if err == nil {
			_, _ = rand.Read(salt)
			_, _ = rand.Read(key)
			enc := base64.RawStdEncoding
			return &SecretHash{work: h.work, slow: fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
				argon2.Version, p.Memory, p.Iterations, p.Parallelism, enc.EncodeToString(salt), enc.EncodeToString(key))}
		}
	}
	// bcrypt: "$2a$" cost "$" then 53 characters of salt and digest in
	// bcrypt's own base64 alphabet.
	const alphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 53)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return &SecretHash{work: h.work, slow: h.slow[:7] + string(b)}
}

// paramsError is the HashError of a slow hash outside the bounds.
func paramsError(format string, a ...any) *HashError {
	return &HashError{Err: ErrSecretHashParams, Detail: fmt.Sprintf(format, a...)}
}
