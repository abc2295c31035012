package token

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
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
	// numeric is set for a NumericDate: jwtd writes only JSON numbers
	// there (RFC 7519 §2), and refuses the strings golang-jwt would take.
	numeric bool
}

// owned maps the folded form of every owned name to it: the names in
// reserved and the JSON name of every field of every claims type, read
// from the struct tags so a new field cannot be forgotten.
var owned = ownedNames(reserved, AccessClaims{}, RefreshClaims{}, CodeClaims{})

// ownedLoose maps the owned names, folded and without "_" and "-", to
// them: Go's encoding/json/v2 with MatchCaseInsensitiveNames (or a
// case:ignore tag) matches names that way, so "s_cope" would fill a
// verifier's Scope field there. Custom claims may not use such a name.
var ownedLoose = func() map[string]ownedName {
	out := make(map[string]ownedName, len(owned))
	for _, o := range owned {
		out[looseFold(o.name)] = o
	}
	return out
}()

// looseFold folds name as fold does, after dropping every "_" and "-".
func looseFold(name string) string {
	return fold(strings.Map(func(r rune) rune {
		if r == '_' || r == '-' {
			return -1
		}
		return r
	}, name))
}

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
	numeric := map[string]bool{}
	for name := range reserved {
		numeric[name] = false
	}
	for _, v := range types {
		jsonFields(reflect.TypeOf(v), numeric)
	}
	names := slices.Sorted(maps.Keys(numeric))
	if len(names) > 64 {
		panic("token: more than 64 owned claim names; widen claimNames.owned")
	}
	out := make(map[string]ownedName, len(names))
	for i, name := range names {
		out[fold(name)] = ownedName{name: name, bit: 1 << i, numeric: numeric[name]}
	}
	return out
}

var numericDate = reflect.TypeFor[*jwt.NumericDate]()

// jsonFields records the name encoding/json gives each field of struct
// type t, and whether it is a NumericDate, descending into embedded
// structs without a name of their own.
func jsonFields(t reflect.Type, numeric map[string]bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		name := cmp.Or(tag, f.Name)
		switch {
		case tag == "-":
		case f.Anonymous && tag == "" && f.Type.Kind() == reflect.Struct:
			jsonFields(f.Type, numeric)
		case f.IsExported():
			numeric[name] = numeric[name] || f.Type == numericDate
		}
	}
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

// add records name and returns the owned name it is, if any (else the
// zero ownedName). Outside custom, a name that folds to an owned name must
// be spelled exactly as it, once; inside, it must not occur at all. Any
// two names folding alike are ErrDuplicateClaim. add keeps name (not a
// copy) until the object is done.
func (n *claimNames) add(name []byte) (ownedName, error) {
	if len(name) == 0 && n.custom {
		return ownedName{}, &ReservedClaimError{Name: string(name)}
	}
	if n.custom { // at mint and in ext only: not on the hot path of every verification
		if o, ok := ownedLoose[looseFold(string(name))]; ok {
			return ownedName{}, &ReservedClaimError{Name: o.name}
		}
	}
	if len(name) <= maxOwnedBytes {
		var buf [64]byte
		if o, ok := owned[string(appendFold(buf[:0], name))]; ok {
			switch {
			case n.custom: // named as jwtd spells it: the error never echoes a spelling
				return ownedName{}, &ReservedClaimError{Name: o.name}
			case o.name != string(name):
				return ownedName{}, fmt.Errorf("%w: %q reads as %q", ErrDuplicateClaim, name, o.name)
			case n.owned&o.bit != 0:
				return ownedName{}, fmt.Errorf("%w: %q", ErrDuplicateClaim, name)
			}
			n.owned |= o.bit
			return o, nil
		}
	}
	if n.many == nil {
		for _, seen := range n.few[:n.nfew] {
			if bytes.EqualFold(seen, name) {
				return ownedName{}, duplicate(name, seen)
			}
		}
		if n.nfew < len(n.few) {
			n.few[n.nfew] = name
			n.nfew++
			return ownedName{}, nil
		}
		n.many = make(map[string]string, 2*len(n.few))
		for _, seen := range n.few {
			n.many[string(appendFold(nil, seen))] = string(seen)
		}
	}
	folded := string(appendFold(nil, name))
	if seen, ok := n.many[folded]; ok {
		return ownedName{}, duplicate(name, []byte(seen))
	}
	n.many[folded] = string(name)
	return ownedName{}, nil
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
		if _, err := n.add(name); err != nil {
			return err
		}
	}
	return nil
}

// checkClaims reads the top level of the claims object data as an
// UnmarshalJSON method is given it: no two names may fold alike, and a
// name folding to an owned one must be spelled as it (claimNames.add), and
// the times must be JSON numbers.
// With ext, the custom claims in member "ext" (a refresh token's or a
// code's) are held to what CheckCustomClaims demands at mint. custom, if
// not nil, is called with each name that is not owned and the span of its
// value in data. It is one pass over data and allocates nothing for the
// claims jwtd mints.
func checkClaims(data []byte, ext bool, custom func(name []byte, start, end int)) error {
	var names claimNames
	m := members{data: data}
	for m.next() {
		o, err := names.add(m.name)
		switch {
		case err != nil:
			return err
		case o.numeric && !isNumber(data[m.start:m.end]):
			return fmt.Errorf("%w: %s is not a JSON number", ErrMalformed, o.name)
		case ext && o.name == "ext":
			if err := checkExt(data[m.start:m.end]); err != nil {
				return err
			}
		case o.bit == 0 && custom != nil:
			custom(m.name, m.start, m.end)
		}
	}
	return m.err
}

// isNumber reports whether the valid JSON value v is a number.
func isNumber(v []byte) bool {
	return len(v) > 0 && (v[0] == '-' || '0' <= v[0] && v[0] <= '9')
}

func checkExt(data []byte) error {
	names := claimNames{custom: true}
	m := members{data: data}
	for m.next() {
		if _, err := names.add(m.name); err != nil {
			return err
		}
	}
	if m.err != nil {
		return fmt.Errorf("%w: ext is not an object", ErrMalformed)
	}
	return nil
}

// members walks the members of one JSON object. data must be valid JSON
// (json.Unmarshal checks that before it calls an UnmarshalJSON method);
// anything else ends the walk with ErrMalformed, never a panic.
type members struct {
	data       []byte
	i          int
	started    bool
	done       bool
	err        error
	name       []byte // the current member's name, unquoted
	start, end int    // the span of its value in data
}

// next moves to the next member and reports whether there is one.
func (m *members) next() bool {
	if m.done || m.err != nil {
		return false
	}
	if !m.started {
		m.started = true
		if m.skipSpace(); !m.consume('{') {
			return m.fail()
		}
		if m.skipSpace(); m.consume('}') {
			m.done = true
			return false
		}
	}
	m.skipSpace()
	end := skipString(m.data, m.i)
	if end < 0 {
		return m.fail()
	}
	m.name = m.data[m.i+1 : end-1]
	if bytes.IndexByte(m.name, '\\') >= 0 || !utf8.Valid(m.name) {
		var s string
		if err := json.Unmarshal(m.data[m.i:end], &s); err != nil {
			return m.fail()
		}
		m.name = []byte(s)
	}
	m.i = end
	if m.skipSpace(); !m.consume(':') {
		return m.fail()
	}
	m.skipSpace()
	m.start = m.i
	if m.end = skipValue(m.data, m.i); m.end < 0 {
		return m.fail()
	}
	m.i = m.end
	m.skipSpace()
	switch {
	case m.consume(','):
	case m.consume('}'):
		m.done = true
	default:
		return m.fail()
	}
	return true
}

func (m *members) fail() bool {
	m.err = fmt.Errorf("%w: claims are not a JSON object", ErrMalformed)
	return false
}

func (m *members) skipSpace() {
	for m.i < len(m.data) {
		switch m.data[m.i] {
		case ' ', '\t', '\n', '\r':
			m.i++
		default:
			return
		}
	}
}

func (m *members) consume(c byte) bool {
	if m.i < len(m.data) && m.data[m.i] == c {
		m.i++
		return true
	}
	return false
}

// skipString returns the index after the JSON string at data[i], or -1.
func skipString(data []byte, i int) int {
	if i >= len(data) || data[i] != '"' {
		return -1
	}
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// skipValue returns the index after the JSON value at data[i], or -1.
func skipValue(data []byte, i int) int {
	if i >= len(data) {
		return -1
	}
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				k := skipString(data, j)
				if k < 0 {
					return -1
				}
				j = k - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	for j := i; j < len(data); j++ { // a number, true, false or null
		switch data[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			if j == i {
				return -1
			}
			return j
		}
	}
	return -1
}
