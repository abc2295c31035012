package token_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/jwtd/jwtd/token"
)

// TestFoldVariants checks the generator against the relation it must
// produce: bytes.EqualFold, which encoding/json uses to match a field.
func TestFoldVariants(t *testing.T) {
	for _, name := range append(ownedNames, "kid", "tenant") {
		vs := foldVariants(name)
		if len(vs) < 3 {
			t.Fatalf("foldVariants(%q) = %q, want at least 3", name, vs)
		}
		for _, v := range vs {
			if !bytes.EqualFold([]byte(v), []byte(name)) {
				t.Fatalf("foldVariants(%q): %q does not fold to it", name, v)
			}
			if got := decodeAs(t, name, v); got != "x" {
				t.Fatalf("foldVariants(%q): encoding/json does not read %q as field %q (got %q)", name, v, name, got)
			}
		}
	}
	if vs := foldVariants("sub"); !slices.Contains(vs, "\u017Fub") || !slices.Contains(vs, "SUB") || !slices.Contains(vs, "Sub") {
		t.Fatalf(`foldVariants("sub") = %q, want Sub, SUB and ſub among them`, vs)
	}
	if vs := foldVariants("kid"); !slices.Contains(vs, "\u212Aid") {
		t.Fatalf(`foldVariants("kid") = %q, want the Kelvin-sign spelling`, vs)
	}
}

// decodeAs is the oracle: it decodes {key: "x"} into a struct whose one
// field is tagged name and returns what the field got.
func decodeAs(t *testing.T, name, key string) string {
	t.Helper()
	typ := reflect.StructOf([]reflect.StructField{{Name: "F", Type: reflect.TypeFor[string](), Tag: reflect.StructTag(`json:"` + name + `"`)}})
	v := reflect.New(typ)
	in, _ := json.Marshal(map[string]string{key: "x"})
	if err := json.Unmarshal(in, v.Interface()); err != nil {
		t.Fatalf("json.Unmarshal(%s): %v", in, err)
	}
	return v.Elem().Field(0).String()
}

// TestOwnedNamesComplete: the names the package derives from its struct
// tags are exactly the ones listed here, so a new claims field shows up in
// this diff and in every test that walks ownedNames.
func TestOwnedNamesComplete(t *testing.T) {
	want := slices.Sorted(slices.Values(ownedNames))
	if got := token.OwnedNames(); !slices.Equal(got, want) {
		t.Fatalf("OwnedNames() = %q, want %q", got, want)
	}
}

// TestCustomClaimsCannotFold: a custom claim that encoding/json would read
// as a claim jwtd owns is refused at every mint, whatever its spelling.
func TestCustomClaimsCannotFold(t *testing.T) {
	f := newFixture(t, "ES256")
	mints := []struct {
		name string
		mint func(token.Session) error
	}{
		{"Mint", func(s token.Session) error { _, err := f.issuer.Mint(s, f.issuer.NewStamp(), true); return err }},
		{"Mint without refresh", func(s token.Session) error { _, err := f.issuer.Mint(s, f.issuer.NewStamp(), false); return err }},
		{"MintCode", func(s token.Session) error { _, _, err := f.issuer.MintCode(s, ""); return err }},
	}
	n := 0
	for _, owned := range ownedNames {
		for _, name := range append([]string{owned}, foldVariants(owned)...) {
			for _, m := range mints {
				s := f.session()
				s.Claims = map[string]json.RawMessage{"tenant": json.RawMessage(`"acme"`), name: json.RawMessage(`""`)}
				if err := m.mint(s); !errors.Is(err, token.ErrReservedClaim) {
					t.Errorf("%s(claim %q): err = %v, want %v", m.name, name, err, token.ErrReservedClaim)
				}
				if err := token.CheckCustomClaims(s.Claims); !errors.Is(err, token.ErrReservedClaim) {
					t.Errorf("CheckCustomClaims(%q): err = %v, want %v", name, err, token.ErrReservedClaim)
				}
				n++
			}
		}
	}
	t.Logf("%d spellings tried", n)
}

// TestCustomClaimsIgnoringSeparators: Go's encoding/json/v2 with
// MatchCaseInsensitiveNames (or a case:ignore tag) also ignores "_" and
// "-" when it matches names, so "s_cope" would fill a Scope field there:
// such names are reserved too, for custom claims.
func TestCustomClaimsIgnoringSeparators(t *testing.T) {
	f := newFixture(t, "ES256")
	tests := []struct {
		name string
		want error
	}{
		{"s_cope", token.ErrReservedClaim},
		{"c-n-f", token.ErrReservedClaim},
		{"client-id", token.ErrReservedClaim},
		{"clientId", token.ErrReservedClaim},
		{"authtime", token.ErrReservedClaim},
		{"Auth-Time", token.ErrReservedClaim},
		{"access-aud", token.ErrReservedClaim},
		{"MAY_ACT", token.ErrReservedClaim},
		{"s_u_b", token.ErrReservedClaim},
		{"_sid_", token.ErrReservedClaim},
		{"s" + strings.Repeat("_", 300) + "cope", token.ErrReservedClaim},
		{"tenant_id", nil},
		{"scopes", nil},
		{"sub-tenant", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := f.session()
			s.Claims = map[string]json.RawMessage{tt.name: json.RawMessage(`"x"`)}
			if _, err := f.issuer.Mint(s, f.issuer.NewStamp(), true); !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("Mint(claim %q): err = %v, want %v", tt.name, err, tt.want)
			}
		})
	}
}

// TestCustomClaimsFoldTogether: two custom claims that fold to one name
// would be a duplicate at the top level of the access token.
func TestCustomClaimsFoldTogether(t *testing.T) {
	f := newFixture(t, "ES256")
	tests := []struct {
		name   string
		claims []string
		want   error
	}{
		{"distinct", []string{"tenant", "role"}, nil},
		{"dotless i is not a fold of i", []string{"\u0131ss", "tenant"}, nil},
		{"dotted I is not a fold of i", []string{"\u0130at"}, nil},
		{"case", []string{"tenant", "Tenant"}, token.ErrDuplicateClaim},
		{"upper", []string{"role", "ROLE"}, token.ErrDuplicateClaim},
		{"kelvin sign", []string{"kind", "\u212Aind"}, token.ErrDuplicateClaim},
		{"long s", []string{"seat", "\u017Feat"}, token.ErrDuplicateClaim},
		{"empty", []string{""}, token.ErrReservedClaim},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := f.session()
			s.Claims = map[string]json.RawMessage{}
			for _, c := range tt.claims {
				s.Claims[c] = json.RawMessage(`1`)
			}
			_, err := f.issuer.Mint(s, f.issuer.NewStamp(), true)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("Mint(claims %q): err = %v, want %v", tt.claims, err, tt.want)
			}
			if _, _, err := f.issuer.MintCode(s, ""); !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("MintCode(claims %q): err = %v, want %v", tt.claims, err, tt.want)
			}
		})
	}
}

// FuzzCheckClaims compares the one-pass name check with a slow oracle: the
// names as json.Decoder reads them, compared pairwise with bytes.EqualFold
// and with the owned names. Input that is not a JSON object must merely not
// panic.
func FuzzCheckClaims(f *testing.F) {
	for _, seed := range []string{
		`{}`, `{"sub":"a"}`, `{"sub":"a","Sub":"b"}`, `{"sub":"a","sub":"b"}`, `{"\u017Fub":1}`, `{"kind":1,"\u212Aind":2}`,
		`{"a":{"b":[1,"}",{"c":"\""}]},"A":0}`, `{"s\u0075b":1,"sub":2}`, ` { "x" : [ ] , "y" : { } } `, `{"c0":0,"c1":1,"c2":2,"c3":3,"c4":4,"c5":5,"c6":6,"c7":7,"c8":8,"C0":9}`,
		`{"a":"\xff","\xff":1,"\ufffd":2}`, `{"a":1`, `[1]`, `"x"`, `{"a"}`, `{"a":}`, `{,}`,
	} {
		f.Add([]byte(seed))
	}
	owned := token.OwnedNames()
	f.Fuzz(func(t *testing.T, data []byte) {
		err := token.CheckClaims(data)
		if !json.Valid(data) {
			return
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		if tok, _ := dec.Token(); tok != json.Delim('{') {
			return
		}
		var names []string
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			names = append(names, tok.(string))
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				t.Fatalf("Decode: %v", err)
			}
		}
		if len(names) > 200 {
			return // the pairwise oracle is quadratic
		}
		bad := false
		for i, a := range names {
			for _, b := range names[:i] {
				bad = bad || bytes.EqualFold([]byte(a), []byte(b))
			}
			for _, o := range owned {
				bad = bad || (a != o && bytes.EqualFold([]byte(a), []byte(o)))
			}
		}
		if bad != errors.Is(err, token.ErrDuplicateClaim) || (!bad && err != nil) {
			t.Fatalf("CheckClaims(%s) = %v; names %q, want a duplicate: %v", data, err, names, bad)
		}
	})
}
