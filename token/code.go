package token

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TypeCode is the typ of a handoff code.
const TypeCode = "code+jwt"

// CodeTTL is how long a handoff code lives: long enough for a backend to
// pass it to the browser, short enough that a leaked one is soon useless.
const CodeTTL = 60 * time.Second

// CodeClaims are the claims of a handoff code: the session to open when
// the browser exchanges it. A code is a JWT signed with the unpublished
// refresh keys, so only jwtd can mint or read one; being single-use is the
// store's job (it remembers the spent jti until the code expires).
type CodeClaims struct {
	jwt.RegisteredClaims
	ClientID       string                     `json:"client_id"`
	Scope          string                     `json:"scope,omitempty"`
	AccessAudience jwt.ClaimStrings           `json:"access_aud"`
	Claims         map[string]json.RawMessage `json:"ext,omitempty"`
	// CodeChallenge is the RFC 7636 S256 challenge, when one was given.
	CodeChallenge string `json:"code_challenge,omitempty"`
}

type codeAlias CodeClaims

// UnmarshalJSON checks names as RefreshClaims.UnmarshalJSON does.
func (c *CodeClaims) UnmarshalJSON(data []byte) error {
	if err := checkClaims(data, true, nil); err != nil {
		return err
	}
	return json.Unmarshal(data, (*codeAlias)(c))
}

// MintCode signs a handoff code for s (s.SID and s.AuthTime are ignored:
// the session opens at the exchange, and its auth_time is the code's iat).
func (i *Issuer) MintCode(s Session, challenge string) (string, *CodeClaims, error) {
	if err := CheckCustomClaims(s.Claims); err != nil {
		return "", nil, err
	}
	iat := i.opts.now().Truncate(time.Second)
	cc := &CodeClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: i.opts.Issuer, Subject: s.Subject, Audience: jwt.ClaimStrings{i.opts.Issuer},
			ExpiresAt: jwt.NewNumericDate(iat.Add(CodeTTL)), NotBefore: jwt.NewNumericDate(iat),
			IssuedAt: jwt.NewNumericDate(iat), ID: NewID(),
		},
		ClientID: s.ClientID, Scope: s.Scope, AccessAudience: s.Audience, Claims: s.Claims, CodeChallenge: challenge,
	}
	raw, err := sign(i.refresh, TypeCode, cc)
	if err != nil {
		return "", nil, err
	}
	return raw, cc, nil
}

// Code verifies a handoff code.
func (v *Verifier) Code(ctx context.Context, raw string) (*CodeClaims, error) {
	var c CodeClaims
	if err := v.verify(ctx, raw, TypeCode, v.refresh, &c, []string{v.opts.Issuer}); err != nil {
		return nil, err
	}
	if c.Subject == "" || c.ID == "" || c.ClientID == "" || c.IssuedAt == nil {
		return nil, fmt.Errorf("%w: sub, jti, client_id and iat are required", ErrMissingClaim)
	}
	if err := v.lifetime(&c.RegisteredClaims, CodeTTL, nil, false); err != nil {
		return nil, err
	}
	return &c, nil
}
