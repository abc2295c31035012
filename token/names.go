package token

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Claim names and how parsers match them.
//
// encoding/json matches an object's names to struct fields without regard
// to case, under Unicode simple folding (bytes.EqualFold: "Sub", "SUB" and
// "ſub" with U+017F all fill the field tagged "sub", as "Kid" with the
// Kelvin sign U+212A fills "kid"), and the last of two matching names
// wins. jwx, jose and most JavaScript libraries match names exactly. A
// custom claim "Sub" written after "sub" would therefore be the subject
// for jwtd and every verifier built on Go structs (go-oidc too), and a
// plain custom claim for the rest. RFC 7519 §4 says a JWT with duplicate
// claim names must be rejected (or the last one used); jwtd makes sure it
// never mints one, under exact or folded comparison, and refuses any it is
// shown.

// ownedName is a claim name jwtd writes or reads.
type ownedName struct {
	name string
	bit  uint64 // its bit in claimNames.owned
}

// owned maps the folded form of every owned name to it: the names in
// reserved and the JSON name of every field of every claims type, read
// from the struct tags so a new field cannot be forgotten.
var owned = ownedNames(reserved, AccessClaims{}, RefreshClaims{}, CodeClaims{})

// maxOwnedBytes bounds the length of a name that can fold to an owned one:
// each rune of an owned name is one byte, and no rune folding to it takes
// more than utf8.UTFMax bytes.
var maxOwnedBytes = func() int {
	n := 0
	for _, o := range owned {
		n = max(n, utf8.UTFMax*len(o.name))
	}
	return n
}()

func ownedNames(reserved map[string]bool, types ...any) map[string]ownedName {
	var names []string
	for name := range reserved {
		names = append(names, name)
	}
	for _, v := range types {
		names = append(names, jsonNames(reflect.TypeOf(v))...)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	if len(names) > 64 {
		panic("token: more than 64 owned claim names; widen claimNames.owned")
	}
	out := make(map[string]ownedName, len(names))
	for i, name := range names {
		out[fold(name)] = ownedName{name: name, bit: 1 << i}
	}
	return out
}

// jsonNames lists the names encoding/json gives the fields of struct type
// t, descending into embedded structs without a name of their own.
func jsonNames(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case tag == "-":
		case f.Anonymous && tag == "" && f.Type.Kind() == reflect.Struct:
			out = append(out, jsonNames(f.Type)...)
		case !f.IsExported():
		case tag != "":
			out = append(out, tag)
		default:
			out = append(out, f.Name)
		}
	}
	return out
}

// appendFold appends the folded form of name: ASCII letters upper case,
// every other rune the smallest of its simple-folding orbit. It is the
// fold encoding/json keys struct fields by (fold.go, foldName), so that
// two names fold alike exactly when bytes.EqualFold says they are equal.
// Invalid UTF-8 folds like U+FFFD, as encoding/json decodes it.
func appendFold(dst, name []byte) []byte {
	for i := 0; i < len(name); {
		if c := name[i]; c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(name[i:])
		dst = utf8.AppendRune(dst, foldRune(r))
		i += n
	}
	return dst
}

func foldRune(r rune) rune {
	for {
		next := unicode.SimpleFold(r)
		if next <= r {
			return next
		}
		r = next
	}
}

func fold(name string) string { return string(appendFold(nil, []byte(name))) }

// claimNames checks the names of one JSON object, one at a time, for
// repeats under folding. It allocates nothing until it holds more than
// len(few) names that are not owned.
type claimNames struct {
	// custom is set for an object of custom claims only (Session.Claims, a
	// refresh token's ext), where an owned name is reserved.
	custom bool
	owned  uint64
	few    [8][]byte
	nfew   int
	many   map[string]string // folded name to the name seen
}

// add records name. Outside custom, a name that folds to an owned name
// must be spelled exactly as it, once; inside, it must not occur at all.
// Any two names folding alike are ErrDuplicateClaim. add keeps name (not
// a copy) until the object is done.
func (n *claimNames) add(name []byte) error {
	if len(name) == 0 && n.custom {
		return fmt.Errorf("%w: %q", ErrReservedClaim, name)
	}
	if len(name) <= maxOwnedBytes {
		var buf [64]byte
		if o, ok := owned[string(appendFold(buf[:0], name))]; ok {
			switch {
			case n.custom && o.name == string(name):
				return fmt.Errorf("%w: %q", ErrReservedClaim, name)
			case n.custom:
				return fmt.Errorf("%w: %q reads as %q", ErrReservedClaim, name, o.name)
			case o.name != string(name):
				return fmt.Errorf("%w: %q reads as %q", ErrDuplicateClaim, name, o.name)
			case n.owned&o.bit != 0:
				return fmt.Errorf("%w: %q", ErrDuplicateClaim, name)
			}
			n.owned |= o.bit
			return nil
		}
	}
	if n.many == nil {
		for _, seen := range n.few[:n.nfew] {
			if bytes.EqualFold(seen, name) {
				return duplicate(name, seen)
			}
		}
		if n.nfew < len(n.few) {
			n.few[n.nfew] = name
			n.nfew++
			return nil
		}
		n.many = make(map[string]string, 2*len(n.few))
		for _, seen := range n.few {
			n.many[string(appendFold(nil, seen))] = string(seen)
		}
	}
	folded := string(appendFold(nil, name))
	if seen, ok := n.many[folded]; ok {
		return duplicate(name, []byte(seen))
	}
	n.many[folded] = string(name)
	return nil
}

func duplicate(name, seen []byte) error {
	if bytes.Equal(name, seen) {
		return fmt.Errorf("%w: %q", ErrDuplicateClaim, name)
	}
	return fmt.Errorf("%w: %q folds to the same name as %q", ErrDuplicateClaim, name, seen)
}

// CheckCustomClaims refuses custom claims that would collide with a claim
// jwtd owns or with each other once written at the top level of an access
// token: ErrReservedClaim for an empty name or one that folds (as
// encoding/json matches names) to a registered or jwtd-owned claim or to
// any field of a claims type, ErrDuplicateClaim for two names that fold
// alike. Names are checked in sorted order, so the error names the same
// claim every time.
func CheckCustomClaims(claims map[string]json.RawMessage) error {
	if len(claims) == 0 {
		return nil
	}
	sorted := make([][]byte, 0, len(claims))
	for name := range claims {
		sorted = append(sorted, []byte(name))
	}
	slices.SortFunc(sorted, bytes.Compare)
	n := claimNames{custom: true}
	for _, name := range sorted {
		if err := n.add(name); err != nil {
			return err
		}
	}
	return nil
}
