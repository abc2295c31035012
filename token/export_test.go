package token

import (
	"encoding/json"
	"maps"
	"slices"
)

// OwnedNames lists the claim names jwtd owns, sorted, for the tests.
func OwnedNames() []string {
	var out []string
	for o := range maps.Values(owned) {
		out = append(out, o.name)
	}
	slices.Sort(out)
	return out
}

// CheckClaims is checkClaims on the top level of data, for the fuzzer.
func CheckClaims(data []byte) error { return checkClaims(data, false, nil) }

// CheckRefreshClaims is checkClaims as a refresh token's are checked.
func CheckRefreshClaims(data []byte) error { return checkClaims(data, true, nil) }

// MarshalReflect is AccessClaims.MarshalJSON through encoding/json's
// reflection: the oracle of the hand-written one.
func (c AccessClaims) MarshalReflect() ([]byte, error) { return c.marshalReflect() }

// DecodePlain is the fast path of AccessClaims.UnmarshalJSON alone, and
// whether it took data.
func DecodePlain(data []byte) (AccessClaims, bool) {
	var a accessAlias
	ok := a.decodePlain(data)
	return AccessClaims(a), ok
}

// DecodeReflect is what encoding/json decodes from data into the access
// claims' fields: the oracle of the fast path.
func DecodeReflect(data []byte) (AccessClaims, error) {
	var a accessAlias
	err := json.Unmarshal(data, &a)
	return AccessClaims(a), err
}

// DecodePlainRefresh and DecodeReflectRefresh are the same pair for
// RefreshClaims.
func DecodePlainRefresh(data []byte) (RefreshClaims, bool) {
	var r refreshAlias
	ok := r.decodePlain(data)
	return RefreshClaims(r), ok
}

func DecodeReflectRefresh(data []byte) (RefreshClaims, error) {
	var r refreshAlias
	err := json.Unmarshal(data, &r)
	return RefreshClaims(r), err
}
