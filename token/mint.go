package token

import (
	"cmp"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MaxTokenBytes bounds a token jwtd mints or reads. It keeps hostile input
// cheap to refuse and keeps tokens inside common header size limits.
const MaxTokenBytes = 16 << 10

// signingKey is what minting needs: the active key of one purpose.
type signingKey interface {
	SigningKey() (kid, alg string, key crypto.Signer, err error)
}

// Options configures an Issuer and a Verifier.
//
// For a Verifier, AccessTTL, RefreshTTL and SessionMaxAge are also upper
// bounds on the lifetimes it accepts (see Verifier); a zero one sets no
// bound. jwtd always sets all three. A resource server that verifies
// jwtd's access tokens does not know jwtd's configuration and may leave
// them zero: it then relies on exp alone, and on the key, for how long a
// token lives.
type Options struct {
	Issuer        string
	AccessTTL     time.Duration
	RefreshTTL    time.Duration // sliding: renewed by each refresh
	SessionMaxAge time.Duration // absolute: from auth_time, never renewed
	Leeway        time.Duration
	// Audiences are all the audiences jwtd issues; its own endpoints accept
	// an access token for any of them.
	Audiences []string
	Now       func() time.Time
}

func (o Options) now() time.Time {
	if o.Now == nil {
		return time.Now()
	}
	return o.Now()
}

// Issuer mints tokens.
type Issuer struct {
	opts    Options
	access  signingKey
	refresh signingKey
}

// NewIssuer returns an Issuer that signs access tokens with access and
// refresh tokens with refresh.
func NewIssuer(opts Options, access, refresh signingKey) *Issuer {
	return &Issuer{opts: opts, access: access, refresh: refresh}
}

// Session is what a token pair says about its session.
type Session struct {
	Subject  string
	ClientID string
	SID      string // empty for client credentials
	Scope    string // the granted scope, kept by the refresh token
	// AccessScope narrows the access token's scope (RFC 6749 §6); empty
	// means Scope.
	AccessScope string
	Audience    []string
	Claims      map[string]json.RawMessage
	AuthTime    time.Time
}

// Stamp fixes the identifiers and instant of one mint. Minting the same
// Session and Stamp again gives tokens with the same claims, which is how a
// refresh retried within the reuse grace answers the same pair without
// storing tokens.
type Stamp struct {
	IssuedAt  time.Time
	AccessID  string
	RefreshID string
}

// NewStamp returns a Stamp for now with fresh random identifiers.
func (i *Issuer) NewStamp() Stamp {
	return Stamp{IssuedAt: i.opts.now().Truncate(time.Second), AccessID: NewID(), RefreshID: NewID()}
}

// Pair is a minted access token and, when the session has one, its refresh
// token.
type Pair struct {
	Access        string
	AccessClaims  *AccessClaims
	Refresh       string
	RefreshClaims *RefreshClaims
}

// NewID returns 128 random bits, base64url: for jti and sid.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Mint signs the access token of s and, with refresh, its refresh token.
// Expiries follow the session's two lifetimes: nothing outlives
// AuthTime+SessionMaxAge, and a refresh token lives RefreshTTL from its mint.
func (i *Issuer) Mint(s Session, st Stamp, refresh bool) (Pair, error) {
	if err := CheckCustomClaims(s.Claims); err != nil {
		return Pair{}, err
	}
	iat := st.IssuedAt.Truncate(time.Second)
	authTime := s.AuthTime.Truncate(time.Second)
	end := authTime.Add(i.opts.SessionMaxAge)
	if s.SID != "" && !end.After(iat) {
		return Pair{}, ErrSessionOver
	}
	accessExp := earliest(iat.Add(i.opts.AccessTTL), end, s.SID != "")
	ac := &AccessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    i.opts.Issuer,
			Subject:   s.Subject,
			Audience:  s.Audience,
			ExpiresAt: jwt.NewNumericDate(accessExp),
			NotBefore: jwt.NewNumericDate(iat),
			IssuedAt:  jwt.NewNumericDate(iat),
			ID:        st.AccessID,
		},
		ClientID: s.ClientID,
		SID:      s.SID,
		AuthTime: jwt.NewNumericDate(authTime),
		Scope:    cmp.Or(s.AccessScope, s.Scope),
		Extra:    s.Claims,
	}
	var p Pair
	var err error
	if p.Access, err = sign(i.access, TypeAccess, ac); err != nil {
		return Pair{}, err
	}
	p.AccessClaims = ac
	if !refresh {
		return p, nil
	}
	rc := &RefreshClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    i.opts.Issuer,
			Subject:   s.Subject,
			Audience:  jwt.ClaimStrings{i.opts.Issuer},
			ExpiresAt: jwt.NewNumericDate(earliest(iat.Add(i.opts.RefreshTTL), end, true)),
			NotBefore: jwt.NewNumericDate(iat),
			IssuedAt:  jwt.NewNumericDate(iat),
			ID:        st.RefreshID,
		},
		ClientID:       s.ClientID,
		SID:            s.SID,
		AuthTime:       jwt.NewNumericDate(authTime),
		Scope:          s.Scope,
		AccessAudience: s.Audience,
		Claims:         s.Claims,
	}
	if p.Refresh, err = sign(i.refresh, TypeRefresh, rc); err != nil {
		return Pair{}, err
	}
	p.RefreshClaims = rc
	return p, nil
}

func earliest(a, b time.Time, useB bool) time.Time {
	if useB && b.Before(a) {
		return b
	}
	return a
}

func sign(keys signingKey, typ string, claims jwt.Claims) (string, error) {
	kid, alg, key, err := keys.SigningKey()
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrSigning, err)
	}
	method := jwt.GetSigningMethod(alg)
	if method == nil {
		return "", fmt.Errorf("%w: algorithm %q", ErrSigning, alg)
	}
	// What golang-jwt's SignedString does, without its per-token work that
	// never changes: the header segment is made once per key and type, and
	// claims that encode themselves are not re-validated by encoding/json.
	var payload []byte
	if m, ok := claims.(json.Marshaler); ok {
		payload, err = m.MarshalJSON()
	} else {
		payload, err = json.Marshal(claims)
	}
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrSigning, err)
	}
	head := headerSegment(alg, kid, typ)
	enc := base64.RawURLEncoding
	buf := make([]byte, 0, len(head)+1+enc.EncodedLen(len(payload))+1+enc.EncodedLen(132))
	buf = append(buf, head...)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, payload)
	sig, err := method.Sign(string(buf), key)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrSigning, err)
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	if len(buf) > MaxTokenBytes {
		return "", fmt.Errorf("%w: %d bytes", ErrTooLarge, len(buf))
	}
	return string(buf), nil
}

// headers caches the encoded JOSE header of each (alg, kid, typ): keys
// rotate daily, so it stays small; a retired key's entry is dropped when
// the cache is full.
var headers struct {
	sync.Mutex
	m map[[3]string]string
}

func headerSegment(alg, kid, typ string) string {
	k := [3]string{alg, kid, typ}
	headers.Lock()
	defer headers.Unlock()
	if h, ok := headers.m[k]; ok {
		return h
	}
	if headers.m == nil || len(headers.m) >= 64 {
		headers.m = map[[3]string]string{}
	}
	// The members golang-jwt writes, in encoding/json's (sorted) order.
	b, _ := json.Marshal(map[string]string{"alg": alg, "kid": kid, "typ": typ})
	h := base64.RawURLEncoding.EncodeToString(b)
	headers.m[k] = h
	return h
}
