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
