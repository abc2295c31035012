package token

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// decodePlain fills a with the access-token claims of data when every one
// of them has the plain form jwtd mints: a string of printable ASCII with
// no escape, an aud of one such string or a non-empty array of them, a
// time as a non-negative integer of at most 15 digits (exact as the
// float64 golang-jwt reads it through). It reports false, with a in an
// unspecified state, for anything else, and the caller then decodes with
// encoding/json: the result is the same either way
// (FuzzAccessClaimsDecode holds the two to that), but this way costs no
// reflection and no second scan of the claims on every verification.
// Members with names of no field are the custom claims, which checkClaims
// collects.
func (a *accessAlias) decodePlain(data []byte) bool {
	return decodePlain(data, func(name, v []byte) (ok, known bool) {
		return plainCommon(name, v, &a.RegisteredClaims, &a.ClientID, &a.SID, &a.Scope, &a.AuthTime)
	})
}

// decodePlain is RefreshClaims' fast path, as accessAlias.decodePlain:
// the claims of an access token, access_aud as an aud, and ext (the
// custom claims) left to encoding/json alone, as the struct's decoding
// would do with it.
func (r *refreshAlias) decodePlain(data []byte) bool {
	return decodePlain(data, func(name, v []byte) (ok, known bool) {
		if ok, known = plainCommon(name, v, &r.RegisteredClaims, &r.ClientID, &r.SID, &r.Scope, &r.AuthTime); known {
			return ok, true
		}
		switch string(name) {
		case "access_aud":
			r.AccessAudience, ok = plainAudience(v)
		case "ext":
			ok = len(v) > 0 && v[0] == '{' && json.Unmarshal(v, &r.Claims) == nil
		default:
			return false, false
		}
		return ok, true
	})
}

// decodePlain walks the members of data, giving field each one: field
// reports whether it knew the name and whether the value was plain. A
// name no field knows is a custom claim, unless it is owned (a claim of
// another token type, ignored by encoding/json): the fast path keeps to
// the shape jwtd mints, and that is not it.
//
// data has passed checkClaims: it is one valid object, each owned name
// appears once and is spelled exactly, so no other spelling can reach a
// field, and the times are numbers.
func decodePlain(data []byte, field func(name, v []byte) (ok, known bool)) bool {
	m := members{data: data}
	for m.next() {
		ok, known := field(m.name, data[m.start:m.end])
		if !known {
			var buf [64]byte
			_, isOwned := owned[string(appendFold(buf[:0], m.name))]
			ok = !isOwned
		}
		if !ok {
			return false
		}
	}
	return m.err == nil
}

// plainCommon decodes name into its field when it is a claim both token
// types carry: a registered claim of RFC 7519 §4.1, client_id, sid, scope
// or auth_time.
func plainCommon(name, v []byte, c *jwt.RegisteredClaims, clientID, sid, scope *string, authTime **jwt.NumericDate) (ok, known bool) {
	switch string(name) {
	case "client_id":
		*clientID, ok = plainString(v)
	case "sid":
		*sid, ok = plainString(v)
	case "scope":
		*scope, ok = plainString(v)
	case "auth_time":
		*authTime, ok = plainDate(v)
	case "iss":
		c.Issuer, ok = plainString(v)
	case "sub":
		c.Subject, ok = plainString(v)
	case "aud":
		c.Audience, ok = plainAudience(v)
	case "exp":
		c.ExpiresAt, ok = plainDate(v)
	case "nbf":
		c.NotBefore, ok = plainDate(v)
	case "iat":
		c.IssuedAt, ok = plainDate(v)
	case "jti":
		c.ID, ok = plainString(v)
	default:
		return false, false
	}
	return ok, true
}

// plainString is the JSON string v when it is printable ASCII with no
// escape: its bytes are then the string encoding/json decodes.
func plainString(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", false
	}
	s := v[1 : len(v)-1]
	for _, c := range s {
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return "", false
		}
	}
	return string(s), true
}

// plainAudience is aud as jwt.ClaimStrings decodes it: one plain string,
// or a non-empty array of plain strings.
func plainAudience(v []byte) (jwt.ClaimStrings, bool) {
	if len(v) > 0 && v[0] == '"' {
		s, ok := plainString(v)
		return jwt.ClaimStrings{s}, ok
	}
	if len(v) < 2 || v[0] != '[' || v[len(v)-1] != ']' {
		return nil, false
	}
	var out jwt.ClaimStrings
	i := 1
	for {
		i = skipSpaceAt(v, i)
		end := skipString(v, i)
		if end < 0 {
			return nil, false
		}
		s, ok := plainString(v[i:end])
		if !ok {
			return nil, false
		}
		out = append(out, s)
		switch i = skipSpaceAt(v, end); {
		case i < len(v)-1 && v[i] == ',':
			i++
		case i == len(v)-1: // the closing ']'
			return out, true
		default:
			return nil, false
		}
	}
}

func skipSpaceAt(v []byte, i int) int {
	for i < len(v) && (v[i] == ' ' || v[i] == '\t' || v[i] == '\n' || v[i] == '\r') {
		i++
	}
	return i
}

// plainDate is the NumericDate golang-jwt decodes from v when v is a
// non-negative integer below 10^15: the float64 it goes through holds it
// exactly, with no fraction, so the instant is time.Unix(n, 0).
func plainDate(v []byte) (*jwt.NumericDate, bool) {
	if len(v) == 0 || len(v) > 15 || (v[0] == '0' && len(v) > 1) {
		return nil, false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return nil, false
		}
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return nil, false
	}
	return jwt.NewNumericDate(time.Unix(n, 0)), true
}
