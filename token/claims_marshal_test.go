package token_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtd/jwtd/token"
)

// TestAccessClaimsMarshalAsEncodingJSON: the hand-written MarshalJSON
// writes byte for byte what encoding/json writes for the struct, for every
// shape of value: empty and omitted fields, one and many audiences, strings
// that need escaping (quotes, control characters, <>&, U+2028, invalid
// UTF-8, non-ASCII), custom claims.
func TestAccessClaimsMarshalAsEncodingJSON(t *testing.T) {
	at := jwt.NewNumericDate(time.Unix(1772366400, 0))
	strs := []string{"", "alice", `a"b`, `back\slash`, "tab\tnew\nline\x01", "<script>&amp;", "line\u2028sep\u2029", "\xff\xfeinvalid", "ünïcødé 日本", "~!@#$%^*()_+`-={}|[]:;',./?"}
	var cases []token.AccessClaims
	for _, s := range strs {
		cases = append(cases, token.AccessClaims{
			RegisteredClaims: jwt.RegisteredClaims{Issuer: s, Subject: s, Audience: jwt.ClaimStrings{s, "api"}, ID: s,
				ExpiresAt: at, NotBefore: at, IssuedAt: at},
			ClientID: s, SID: s, AuthTime: at, Scope: s,
		})
	}
	cases = append(cases,
		token.AccessClaims{}, // every omitempty omitted; client_id is not omitempty
		token.AccessClaims{RegisteredClaims: jwt.RegisteredClaims{Audience: jwt.ClaimStrings{}}},
		token.AccessClaims{RegisteredClaims: jwt.RegisteredClaims{Audience: jwt.ClaimStrings{"one"}, ExpiresAt: jwt.NewNumericDate(time.Unix(0, 0))}},
		token.AccessClaims{RegisteredClaims: jwt.RegisteredClaims{Subject: "bob", IssuedAt: jwt.NewNumericDate(time.Unix(1772366400, 999_999_999))},
			Extra: map[string]json.RawMessage{"tenant": json.RawMessage(`"acme"`), "n": json.RawMessage(`12345678901234567890`), "o": json.RawMessage(`{ "a" : [1, 2] }`)}},
		token.AccessClaims{Extra: map[string]json.RawMessage{"x": json.RawMessage(`true`)}}, // only custom claims
	)
	for i, c := range cases {
		got, err := c.MarshalJSON()
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		want, err := c.MarshalReflect()
		if err != nil {
			t.Fatalf("case %d: oracle: %v", i, err)
		}
		if string(got) != string(want) {
			t.Errorf("case %d:\n got %s\nwant %s", i, got, want)
		}
	}
}
