package token_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtd/jwtd/token"
)

// plainClaims is a claims object as jwtd mints it.
const plainClaims = `{"iss":"https://id.example.com","sub":"alice","aud":["api","billing"],"exp":1772367300,"nbf":1772366400,"iat":1772366400,"jti":"Jd8kq2l0aXlVb3Uzc2VlbXk","client_id":"app","sid":"c2lkLW9mLWFsaWNl","auth_time":1772366400,"scope":"read write","tenant":"acme"}`

// plainRefresh is a refresh token's claims as jwtd mints them.
const plainRefresh = `{"iss":"https://id.example.com","sub":"alice","aud":["https://id.example.com"],"exp":1772453100,"nbf":1772366400,"iat":1772366400,"jti":"Jd8kq2l0aXlVb3Uzc2VlbXk","client_id":"app","sid":"c2lkLW9mLWFsaWNl","auth_time":1772366400,"scope":"read","access_aud":["api"],"ext":{"tenant":"acme","roles":["a","b"]}}`

// sameAsReflect fails when the fast path takes data and decodes anything
// else than encoding/json does, and reports whether it took it. Inputs
// checkClaims refuses never reach the fast path, so they are skipped.
func sameAsReflect(t *testing.T, data []byte) bool {
	t.Helper()
	return same(t, data, token.CheckClaims, token.DecodePlain, token.DecodeReflect)
}

func sameAsReflectRefresh(t *testing.T, data []byte) bool {
	t.Helper()
	return same(t, data, token.CheckRefreshClaims, token.DecodePlainRefresh, token.DecodeReflectRefresh)
}

func same[T any](t *testing.T, data []byte, check func([]byte) error, plain func([]byte) (T, bool), oracle func([]byte) (T, error)) bool {
	t.Helper()
	if !json.Valid(data) || check(data) != nil {
		return false
	}
	fast, ok := plain(data)
	if !ok {
		return false
	}
	slow, err := oracle(data)
	if err != nil {
		t.Fatalf("%s: the fast path took what encoding/json refuses (%v)", data, err)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("%s:\nfast %#v\nslow %#v", data, fast, slow)
	}
	return true
}

func TestAccessClaimsDecodePlainAsEncodingJSON(t *testing.T) {
	if !sameAsReflect(t, []byte(plainClaims)) {
		t.Fatal("the fast path refused the claims jwtd mints")
	}
	// What jwtd mints goes the fast way, whatever its options.
	at := jwt.NewNumericDate(time.Unix(1772366400, 0))
	for _, c := range []token.AccessClaims{
		{RegisteredClaims: jwt.RegisteredClaims{Issuer: "http://127.0.0.1:8080", Subject: "u-1", Audience: jwt.ClaimStrings{"api"}, ExpiresAt: at, IssuedAt: at, ID: "x"}, ClientID: "c"},
		{RegisteredClaims: jwt.RegisteredClaims{Subject: "svc", ExpiresAt: at}, ClientID: "svc", Scope: "a b c"},
		{ClientID: ""},
	} {
		data, err := c.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if !sameAsReflect(t, data) {
			t.Errorf("%s: the fast path refused it", data)
		}
	}
	// Each of these takes the slow way or decodes as encoding/json does.
	replace := func(old, new string) string { return strings.Replace(plainClaims, old, new, 1) }
	for _, v := range []struct {
		data     string
		wantFast bool
	}{
		{replace(`"sub":"alice"`, `"sub":"al\u0069ce"`), false},
		{replace(`"sub":"alice"`, `"sub":"al\"ice"`), false},
		{replace(`"sub":"alice"`, `"sub":"ünï"`), false},
		{replace(`"sub":"alice"`, "\"sub\":\"a\xffb\""), false},
		{replace(`"sub":"alice"`, `"sub":null`), false},
		{replace(`"sub":"alice"`, `"sub":1`), false},
		{replace(`"sub":"alice"`, `"sub":""`), true},
		{replace(`"exp":1772367300`, `"exp":1772367300.5`), false},
		{replace(`"exp":1772367300`, `"exp":1.7723673e9`), false},
		{replace(`"exp":1772367300`, `"exp":-1`), false},
		{replace(`"exp":1772367300`, `"exp":0`), true},
		{replace(`"exp":1772367300`, `"exp":999999999999999`), true},
		{replace(`"exp":1772367300`, `"exp":9999999999999999`), false},
		{replace(`"aud":["api","billing"]`, `"aud":"api"`), true},
		{replace(`"aud":["api","billing"]`, `"aud":[ "api" , "billing" ]`), true},
		{replace(`"aud":["api","billing"]`, `"aud":[]`), false},
		{replace(`"aud":["api","billing"]`, `"aud":["api",1]`), false},
		{replace(`"aud":["api","billing"]`, `"aud":null`), false},
		{replace(`"aud":["api","billing"]`, `"aud":["a\/pi"]`), false},
		{replace(`"tenant":"acme"`, `"tenant":{"a":[1,"\u00e9"]}`), true},
		{replace(`"tenant":"acme"`, `"cnf":{"jkt":"x"}`), false},
		{replace(`"tenant":"acme"`, `"ext":{"a":1}`), false},
		{"{ \"sub\" :\t\"alice\" ,\n\"exp\": 1 }", true},
		{`{}`, true},
	} {
		if got := sameAsReflect(t, []byte(v.data)); got != v.wantFast {
			t.Errorf("%s: fast path %v, want %v", v.data, got, v.wantFast)
		}
	}
}

// FuzzAccessClaimsDecode holds the fast path to encoding/json on any input
// it takes.
func FuzzAccessClaimsDecode(f *testing.F) {
	f.Add([]byte(plainClaims))
	f.Add([]byte(`{"aud":"a","exp":12,"scope":""}`))
	f.Add([]byte(`{"aud":["a","b"],"x":[{"y":null}]}`))
	f.Add([]byte(plainRefresh))
	f.Fuzz(func(t *testing.T, data []byte) {
		sameAsReflect(t, data)
		sameAsReflectRefresh(t, data)
	})
}

// The whole UnmarshalJSON, both ways: the custom claims are kept either way.
func TestAccessClaimsUnmarshalKeepsCustomClaims(t *testing.T) {
	for _, data := range []string{plainClaims, strings.Replace(plainClaims, `"sub":"alice"`, `"sub":"al\u0069ce"`, 1)} {
		var c token.AccessClaims
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			t.Fatal(err)
		}
		if c.Subject != "alice" || c.Scope != "read write" || len(c.Audience) != 2 || c.ExpiresAt == nil || c.ExpiresAt.Unix() != 1772367300 ||
			string(c.Extra["tenant"]) != `"acme"` || len(c.Extra) != 1 {
			t.Errorf("%s: %+v", data, c)
		}
	}
}

func TestRefreshClaimsDecodePlainAsEncodingJSON(t *testing.T) {
	if !sameAsReflectRefresh(t, []byte(plainRefresh)) {
		t.Fatal("the fast path refused the claims jwtd mints")
	}
	replace := func(old, new string) string { return strings.Replace(plainRefresh, old, new, 1) }
	for _, v := range []struct {
		data     string
		wantFast bool
	}{
		{replace(`,"ext":{"tenant":"acme","roles":["a","b"]}`, ``), true},
		{replace(`"ext":{"tenant":"acme","roles":["a","b"]}`, `"ext":{}`), true},
		{replace(`"ext":{"tenant":"acme","roles":["a","b"]}`, `"ext":null`), false},
		{replace(`"ext":{"tenant":"acme","roles":["a","b"]}`, `"ext":{"t":"\u00e9"}`), true},
		{replace(`"access_aud":["api"]`, `"access_aud":"api"`), true},
		{replace(`"access_aud":["api"]`, `"access_aud":[]`), false},
		{replace(`"auth_time":1772366400`, `"auth_time":1772366400.25`), false},
		{replace(`"tenant"`, `"custom"`), true},
	} {
		if got := sameAsReflectRefresh(t, []byte(v.data)); got != v.wantFast {
			t.Errorf("%s: fast path %v, want %v", v.data, got, v.wantFast)
		}
	}
	// Through UnmarshalJSON, both ways.
	for _, data := range []string{plainRefresh, replace(`"sub":"alice"`, `"sub":"al\u0069ce"`)} {
		var c token.RefreshClaims
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			t.Fatal(err)
		}
		if c.Subject != "alice" || c.SID != "c2lkLW9mLWFsaWNl" || len(c.AccessAudience) != 1 || c.AuthTime == nil || string(c.Claims["tenant"]) != `"acme"` {
			t.Errorf("%s: %+v", data, c)
		}
	}
}
