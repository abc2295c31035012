package revocation

import (
	"encoding/base64"
	"time"
)

// familyTable holds the memory store's refresh families: one per session
// that has refreshed, kept for the refresh lifetime, so a busy replica
// holds hundreds of thousands. Most are packed into records without a
// single pointer (jwtd's ids are 16 random bytes in base64url, and client
// ids and scopes come from a small interned set), which the garbage
// collector does not have to mark; a family that does not pack (an id of
// another shape, the interned set full) is kept as it is.
type familyTable struct {
	packed map[id128]packedFamily
	plain  map[string]family
	names  interner
}

type packedFamily struct {
	head, prev                 id128
	access, refresh            id128
	issuedAt, spentAt, expires instant
	client, scope              uint32
}

func newFamilyTable() familyTable {
	return familyTable{packed: map[id128]packedFamily{}, plain: map[string]family{}, names: interner{idx: map[string]uint32{}}}
}

func (t *familyTable) get(sid string) (family, bool) {
	if id, ok := packID(sid); ok {
		if p, ok := t.packed[id]; ok {
			return t.unpack(p), true
		}
	}
	f, ok := t.plain[sid]
	return f, ok
}

func (t *familyTable) put(sid string, f family) {
	id, ok := packID(sid)
	if ok {
		if p, packs := t.pack(f); packs {
			t.packed[id] = p
			delete(t.plain, sid)
			return
		}
		delete(t.packed, id)
	}
	t.plain[sid] = f
}

func (t *familyTable) del(sid string) {
	if id, ok := packID(sid); ok {
		delete(t.packed, id)
	}
	delete(t.plain, sid)
}

func (t *familyTable) sweep(now time.Time) {
	for k, p := range t.packed {
		if !p.expires.liveAt(now) {
			delete(t.packed, k)
		}
	}
	for k, f := range t.plain {
		if !f.expires.liveAt(now) {
			delete(t.plain, k)
		}
	}
}

func (t *familyTable) len() int { return len(t.packed) + len(t.plain) }

func (t *familyTable) pack(f family) (packedFamily, bool) {
	var p packedFamily
	var ok [6]bool
	p.head, ok[0] = packID(f.head)
	p.prev, ok[1] = packID(f.prev)
	p.access, ok[2] = packID(f.child.AccessID)
	p.refresh, ok[3] = packID(f.child.RefreshID)
	p.client, ok[4] = t.names.intern(f.child.ClientID)
	p.scope, ok[5] = t.names.intern(f.child.Scope)
	for _, o := range ok {
		if !o {
			return packedFamily{}, false
		}
	}
	p.issuedAt, p.spentAt, p.expires = at(f.child.IssuedAt), f.spentAt, f.expires
	return p, true
}

func (t *familyTable) unpack(p packedFamily) family {
	issued := p.issuedAt.time()
	if !issued.IsZero() {
		issued = issued.UTC() // a location of its own would be a pointer to keep
	}
	return family{
		head: p.head.String(), prev: p.prev.String(),
		child: Child{IssuedAt: issued, AccessID: p.access.String(), RefreshID: p.refresh.String(),
			ClientID: t.names.strs[p.client], Scope: t.names.strs[p.scope]},
		spentAt: p.spentAt, expires: p.expires,
	}
}

// id128 is one of jwtd's ids (token.NewID: 16 random bytes) unencoded.
type id128 [16]byte

// packID reads s as 16 bytes in unpadded base64url, only in the one
// spelling that encodes back to s.
func packID(s string) (id128, bool) {
	var id id128
	if len(s) != 22 {
		return id, false
	}
	var buf [22]byte
	copy(buf[:], s)
	n, err := base64.RawURLEncoding.Strict().Decode(id[:], buf[:])
	return id, err == nil && n == len(id)
}

func (id id128) String() string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// interner numbers the client ids and scopes of the packed families.
type interner struct {
	idx  map[string]uint32
	strs []string
}

// maxInterned bounds the interned set: client ids and scopes come from the
// configuration, so a real one stays far below it.
const maxInterned = 4096

func (n *interner) intern(s string) (uint32, bool) {
	if i, ok := n.idx[s]; ok {
		return i, true
	}
	if len(n.strs) >= maxInterned {
		return 0, false
	}
	i := uint32(len(n.strs))
	n.idx[s] = i
	n.strs = append(n.strs, s)
	return i, true
}
