package keys_test

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jwtd/jwtd/keys"
)

func byID(t *testing.T, s keys.Store) map[string]*keys.Key {
	t.Helper()
	ks, err := s.List(context.Background())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	m := map[string]*keys.Key{}
	for _, k := range ks {
		m[k.ID] = k
	}
	return m
}

func TestMemoryStore(t *testing.T) {
	testStore(t, func(*testing.T) keys.Store { return keys.NewMemoryStore() })
}

func TestFileStore(t *testing.T) {
	testStore(t, func(t *testing.T) keys.Store {
		s, err := keys.NewFileStore(filepath.Join(t.TempDir(), "keys"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestFileStoreOnDisk(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "keys")
	s, err := keys.NewFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := keys.Generate("ES256", keys.Refresh, t0, t0)
	if err := s.Put(ctx, k); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != k.ID+".jwk" {
		t.Fatalf("dir = %v, want only %s.jwk (no temporary files)", entries, k.ID)
	}
	for _, p := range []string{dir, filepath.Join(dir, k.ID+".jwk")} {
		st, _ := os.Stat(p)
		want := os.FileMode(0o600)
		if st.IsDir() {
			want = 0o700
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s mode = %v, want %v", p, st.Mode().Perm(), want)
		}
	}
	// A new store on the same directory (a restart) sees the same key.
	s2, _ := keys.NewFileStore(dir)
	if got := byID(t, s2)[k.ID]; got == nil || got.Purpose != keys.Refresh {
		t.Fatalf("after restart: %v", got)
	}

	// Damaged files are errors that name the file, never skipped silently.
	path := filepath.Join(dir, k.ID+".jwk")
	data, _ := os.ReadFile(path)
	damage := map[string][]byte{
		"not json":      []byte("{"),
		"wrong purpose": []byte(strings.Replace(string(data), `"refresh"`, `"other"`, 1)),
		"wrong kid":     []byte(strings.Replace(string(data), k.ID, otherKID(k.ID), 1)),
	}
	for name, bad := range damage {
		if err := os.WriteFile(path, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := s2.List(ctx)
		if !errors.Is(err, keys.ErrCorrupt) || !strings.Contains(err.Error(), path) {
			t.Errorf("List(%s): err = %v, want ErrCorrupt naming %s", name, err, path)
		}
	}
}

// TestThumbprint checks the RFC 7638 §3.1 example.
func TestThumbprint(t *testing.T) {
	n, _ := base64.RawURLEncoding.DecodeString("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")
	got, err := keys.Thumbprint(&rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537})
	if want := "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; got != want || err != nil {
		t.Fatalf("Thumbprint(RFC 7638 key) = %q, %v; want %q", got, err, want)
	}
}

func TestGenerate(t *testing.T) {
	for _, alg := range keys.Algorithms {
		t.Run(alg, func(t *testing.T) {
			k, err := keys.Generate(alg, keys.Access, t0, t0)
			if err != nil {
				t.Fatalf("Generate(%s): %v", alg, err)
			}
			if kid, _ := keys.Thumbprint(k.Public()); kid != k.ID {
				t.Fatalf("Generate(%s): kid %s is not the thumbprint %s", alg, k.ID, kid)
			}
			if r, ok := k.Private.(*rsa.PrivateKey); ok && r.N.BitLen() != 3072 {
				t.Fatalf("Generate(%s): %d bits, want 3072", alg, r.N.BitLen())
			}
			back, err := keys.UnmarshalPrivate(mustMarshal(t, k))
			if err != nil || back.ID != k.ID || back.Algorithm != alg {
				t.Fatalf("round trip(%s) = %+v, %v", alg, back, err)
			}
		})
	}
	if _, err := keys.Generate("HS256", keys.Access, t0, t0); !errors.Is(err, keys.ErrUnsupportedAlgorithm) {
		t.Fatalf("Generate(HS256): err = %v, want %v", err, keys.ErrUnsupportedAlgorithm)
	}
}

func mustMarshal(t *testing.T, k *keys.Key) []byte {
	t.Helper()
	b, err := keys.MarshalPrivate(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFileStorePermissions: a key directory others can write, or a key file
// others can read or write, or one that is a symbolic link, is refused with
// an error that names the path and the fix, at open and on every List.
func TestFileStorePermissions(t *testing.T) {
	ctx := context.Background()
	// setup makes a store directory holding one key and returns the
	// directory and the key file.
	setup := func(t *testing.T) (dir, file string) {
		t.Helper()
		dir = filepath.Join(t.TempDir(), "keys")
		s, err := keys.NewFileStore(dir)
		if err != nil {
			t.Fatal(err)
		}
		k, _ := keys.Generate("EdDSA", keys.Access, t0, t0)
		if err := s.Put(ctx, k); err != nil {
			t.Fatal(err)
		}
		return dir, filepath.Join(dir, k.ID+".jwk")
	}
	chmod := func(mode os.FileMode) func(*testing.T, string, string) string {
		return func(t *testing.T, dir, file string) string {
			t.Helper()
			p := file
			if mode.IsDir() {
				p = dir
			}
			if err := os.Chmod(p, mode.Perm()); err != nil {
				t.Fatal(err)
			}
			return p
		}
	}
	tests := []struct {
		name    string
		damage  func(t *testing.T, dir, file string) string // returns the path the error must name
		wantErr bool
		fix     string
	}{
		{"dir 0700", chmod(os.ModeDir | 0o700), false, ""},
		{"dir 0755", chmod(os.ModeDir | 0o755), false, ""},
		{"dir group-writable", chmod(os.ModeDir | 0o770), true, "chmod 700"},
		{"dir world-writable", chmod(os.ModeDir | 0o757), true, "chmod 700"},
		{"dir sticky world-writable", func(t *testing.T, dir, _ string) string {
			t.Helper()
			if err := os.Chmod(dir, os.ModeSticky|0o777); err != nil {
				t.Fatal(err)
			}
			return dir
		}, true, "chmod 700"},
		{"file 0600", chmod(0o600), false, ""},
		{"file 0400", chmod(0o400), false, ""},
		{"file group-readable", chmod(0o640), true, "chmod 600"},
		{"file world-readable", chmod(0o604), true, "chmod 600"},
		{"file group-writable", chmod(0o620), true, "chmod 600"},
		{"file is a symlink", func(t *testing.T, dir, file string) string {
			t.Helper()
			target := filepath.Join(t.TempDir(), "elsewhere.jwk")
			if err := os.Rename(file, target); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, file); err != nil {
				t.Fatal(err)
			}
			return file
		}, true, "symbolic link"},
		{"file is a directory", func(t *testing.T, dir, file string) string {
			t.Helper()
			if err := os.Remove(file); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(file, 0o700); err != nil {
				t.Fatal(err)
			}
			return file
		}, true, "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, file := setup(t)
			// A store opened before the damage refuses on its next List:
			// a key planted while jwtd runs is never used.
			before, err := keys.NewFileStore(dir)
			if err != nil {
				t.Fatal(err)
			}
			path := tt.damage(t, dir, file)
			_, err = keys.NewFileStore(dir)
			_, listErr := before.List(ctx)
			for call, err := range map[string]error{"NewFileStore": err, "List": listErr} {
				switch {
				case !tt.wantErr && err != nil:
					t.Errorf("%s(%s): err = %v, want nil", call, tt.name, err)
				case tt.wantErr && !errors.Is(err, keys.ErrInsecure):
					t.Errorf("%s(%s): err = %v, want %v", call, tt.name, err, keys.ErrInsecure)
				case tt.wantErr && (!strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.fix)):
					t.Errorf("%s(%s): err = %q, want it to name %s and %q", call, tt.name, err, path, tt.fix)
				}
			}
		})
	}
}

// TestFileStoreOwner: a directory or key file owned by another user (not
// root) is refused: its owner can change it whatever its mode.
func TestFileStoreOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	for _, which := range []string{"dir", "file"} {
		t.Run(which, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "keys")
			s, err := keys.NewFileStore(dir)
			if err != nil {
				t.Fatal(err)
			}
			k, _ := keys.Generate("EdDSA", keys.Access, t0, t0)
			if err := s.Put(context.Background(), k); err != nil {
				t.Fatal(err)
			}
			p := dir
			if which == "file" {
				p = filepath.Join(dir, k.ID+".jwk")
			}
			if err := os.Chown(p, 12345, 12345); err != nil {
				t.Fatal(err)
			}
			if _, err := keys.NewFileStore(dir); !errors.Is(err, keys.ErrInsecure) || !strings.Contains(err.Error(), "chown") {
				t.Fatalf("NewFileStore(%s owned by uid 12345): err = %v, want %v naming chown", which, err, keys.ErrInsecure)
			}
		})
	}
}
