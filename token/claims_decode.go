package token

import (
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
//
// data has passed checkClaims: it is one valid object, each owned name
// appears once and is spelled exactly, so no other spelling can reach a
// field, and the times are numbers. Members with other names are the
// custom claims, which checkClaims collects.
func (a *accessAlias) decodePlain(data []byte) bool {
	m := members{data: data}
	for m.next() {
		v := data[m.start:m.end]
		var ok bool
		switch string(m.name) {
		case "iss":
			a.Issuer, ok = plainString(v)
		case "sub":
			a.Subject, ok = plainString(v)
		case "aud":
			a.Audience, ok = plainAudience(v)
		case "exp":
			a.ExpiresAt, ok = plainDate(v)
		case "nbf":
			a.NotBefore, ok = plainDate(v)
		case "iat":
			a.IssuedAt, ok = plainDate(v)
		case "jti":
			a.ID, ok = plainString(v)
		case "client_id":
			a.ClientID, ok = plainString(v)
		case "sid":
			a.SID, ok = plainString(v)
		case "auth_time":
			a.AuthTime, ok = plainDate(v)
		case "scope":
			a.Scope, ok = plainString(v)
		default:
			var buf [64]byte
			if _, known := owned[string(appendFold(buf[:0], m.name))]; known {
				// Owned but not an access-token field (ext, access_aud, ...):
				// encoding/json would ignore it; so would this, but keep
				// the fast path to the shape jwtd mints.
				return false
			}
			ok = true // a custom claim
		}
		if !ok {
			return false
		}
	}
	return m.err == nil
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
