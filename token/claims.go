package token

import (
	"bytes"
	"encoding/json"

	"github.com/golang-jwt/jwt/v5"
)

// The typ header values (RFC 9068 §2.1; RFC 8725 §3.11 explicit typing).
const (
	TypeAccess  = "at+jwt"
	TypeRefresh = "rt+jwt"
)

// reserved are the claim names custom claims may never use: the registered
// claims of RFC 7519 §4.1, the claims RFC 9068 gives jwtd to set, jwtd's own
// sid, claims with security meaning to resource servers (RFC 7800 cnf,
// RFC 8693 act and may_act), and the names an introspection answer sets
// beside the claims (RFC 7662 §2.2 active, token_type, username), so no
// custom claim can contradict them there.
var reserved = map[string]bool{
	"iss": true, "sub": true, "aud": true, "exp": true, "nbf": true, "iat": true, "jti": true,
	"client_id": true, "auth_time": true, "scope": true, "sid": true,
	"cnf": true, "act": true, "may_act": true,
	"active": true, "token_type": true, "username": true,
}

// AccessClaims are the claims of an access token. Custom claims given at
// login travel in Extra and are written at the top level of the token.
type AccessClaims struct {
	jwt.RegisteredClaims
	ClientID string                     `json:"client_id"`
	SID      string                     `json:"sid,omitempty"`
	AuthTime *jwt.NumericDate           `json:"auth_time,omitempty"`
	Scope    string                     `json:"scope,omitempty"`
	Extra    map[string]json.RawMessage `json:"-"`
}

type accessAlias AccessClaims

// MarshalJSON writes the registered claims and then the custom ones.
func (c AccessClaims) MarshalJSON() ([]byte, error) {
	base, err := json.Marshal(accessAlias(c))
	if err != nil || len(c.Extra) == 0 {
		return base, err
	}
	extra, err := json.Marshal(c.Extra)
	if err != nil {
		return nil, err
	}
	// Both are objects; CheckCustomClaims kept their names apart.
	out := append(bytes.TrimSuffix(base, []byte("}")), ',')
	return append(out, extra[1:]...), nil
}

// UnmarshalJSON reads the known claims and keeps the rest in Extra. It
// refuses names that repeat under folding (checkClaims), so what jwtd
// reads is what every other parser reads.
func (c *AccessClaims) UnmarshalJSON(data []byte) error {
	var extra map[string]json.RawMessage
	var values []byte // one copy of data for all the custom values
	err := checkClaims(data, false, func(name []byte, start, end int) {
		if values == nil {
			values = bytes.Clone(data)
			extra = map[string]json.RawMessage{}
		}
		extra[string(name)] = values[start:end:end]
	})
	if err != nil {
		return err
	}
	var a accessAlias
	if err := json.Unmarshal(data, &a); err != nil {
		return err
	}
	a.Extra = extra
	*c = AccessClaims(a)
	return nil
}

// RefreshClaims are the claims of a refresh token: everything jwtd needs to
// mint the next access token of the session without a session store.
type RefreshClaims struct {
	jwt.RegisteredClaims
	ClientID string           `json:"client_id"`
	SID      string           `json:"sid"`
	AuthTime *jwt.NumericDate `json:"auth_time"`
	Scope    string           `json:"scope,omitempty"`
	// AccessAudience is the aud of the session's access tokens; the refresh
	// token's own aud is the issuer.
	AccessAudience jwt.ClaimStrings `json:"access_aud"`
	// Claims are the custom claims given at login.
	Claims map[string]json.RawMessage `json:"ext,omitempty"`
}

type refreshAlias RefreshClaims

// UnmarshalJSON refuses names that repeat under folding, at the top level
// and in ext, and custom claims in ext that CheckCustomClaims would have
// refused at mint: the refresh path re-checks what it will copy into the
// next access token.
func (c *RefreshClaims) UnmarshalJSON(data []byte) error {
	if err := checkClaims(data, true, nil); err != nil {
		return err
	}
	return json.Unmarshal(data, (*refreshAlias)(c))
}
