package token

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"

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

// MarshalJSON writes the registered claims and then the custom ones,
// exactly as encoding/json writes the struct (field order, omitempty,
// NumericDate as whole seconds, HTML-safe escaping), without its
// reflection: every access token and every introspection answer is one.
// TestAccessClaimsMarshalAsEncodingJSON holds it to that.
func (c AccessClaims) MarshalJSON() ([]byte, error) {
	if jwt.TimePrecision < time.Second { // fractions: encoding/json's way
		return c.marshalReflect()
	}
	o := jsonObject{b: make([]byte, 0, 320)}
	o.b = append(o.b, '{')
	o.str("iss", c.Issuer, true)
	o.str("sub", c.Subject, true)
	if len(c.Audience) > 0 {
		o.name("aud")
		o.b = append(o.b, '[')
		for i, a := range c.Audience {
			if i > 0 {
				o.b = append(o.b, ',')
			}
			o.quote(a)
		}
		o.b = append(o.b, ']')
	}
	o.date("exp", c.ExpiresAt)
	o.date("nbf", c.NotBefore)
	o.date("iat", c.IssuedAt)
	o.str("jti", c.ID, true)
	o.str("client_id", c.ClientID, false)
	o.str("sid", c.SID, true)
	o.date("auth_time", c.AuthTime)
	o.str("scope", c.Scope, true)
	if len(c.Extra) > 0 {
		// Sorted, each value compacted and checked: encoding/json's own.
		extra, err := json.Marshal(c.Extra)
		if err != nil {
			return nil, err
		}
		// Both are objects; CheckCustomClaims kept their names apart.
		if o.n > 0 {
			o.b = append(o.b, ',')
		}
		return append(o.b, extra[1:]...), nil
	}
	return append(o.b, '}'), nil
}

// marshalReflect is MarshalJSON through encoding/json's reflection.
func (c AccessClaims) marshalReflect() ([]byte, error) {
	base, err := json.Marshal(accessAlias(c))
	if err != nil || len(c.Extra) == 0 {
		return base, err
	}
	extra, err := json.Marshal(c.Extra)
	if err != nil {
		return nil, err
	}
	out := append(bytes.TrimSuffix(base, []byte("}")), ',')
	return append(out, extra[1:]...), nil
}

// jsonObject appends the members of one JSON object.
type jsonObject struct {
	b []byte
	n int // members so far
}

func (o *jsonObject) name(n string) {
	if o.n > 0 {
		o.b = append(o.b, ',')
	}
	o.n++
	o.b = append(o.b, '"')
	o.b = append(o.b, n...)
	o.b = append(o.b, '"', ':')
}

func (o *jsonObject) str(name, v string, omitEmpty bool) {
	if v == "" && omitEmpty {
		return
	}
	o.name(name)
	o.quote(v)
}

func (o *jsonObject) date(name string, d *jwt.NumericDate) {
	if d == nil {
		return
	}
	o.name(name)
	o.b = strconv.AppendInt(o.b, d.Truncate(jwt.TimePrecision).Unix(), 10)
}

// quote appends v as a JSON string. Plain printable ASCII is copied;
// anything else (quotes, control characters, <>&, non-ASCII, invalid
// UTF-8) is left to encoding/json, so its escaping stays the one rule.
func (o *jsonObject) quote(v string) {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(v) // a string always marshals
			o.b = append(o.b, q...)
			return
		}
	}
	o.b = append(o.b, '"')
	o.b = append(o.b, v...)
	o.b = append(o.b, '"')
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
	if !a.decodePlain(data) {
		a = accessAlias{}
		if err := json.Unmarshal(data, &a); err != nil {
			return err
		}
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
	var r refreshAlias
	if !r.decodePlain(data) {
		return json.Unmarshal(data, (*refreshAlias)(c))
	}
	*c = RefreshClaims(r)
	return nil
}
