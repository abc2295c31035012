package keys

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// Store keeps keys. Put creates or replaces a key by ID; Delete of a missing
// key is not an error. Implementations are safe for concurrent use.
type Store interface {
	List(ctx context.Context) ([]*Key, error)
	Put(ctx context.Context, k *Key) error
	Delete(ctx context.Context, id string) error
}

var (
	_ Store = (*FileStore)(nil)
	_ Store = (*MemoryStore)(nil)
)

// FileStore keeps one private JWK file per key in a directory, mode 0600,
// each written atomically (a temporary file renamed over the old one), so a
// crash never leaves a half-written key behind.
type FileStore struct {
	dir string
}

// NewFileStore returns a store on dir, creating it with mode 0700 if needed.
// It refuses (ErrInsecure) a directory others can write and a key file that
// is a symbolic link, is not owned by jwtd's user, or grants group or other
// any permission; List checks the same on every read.
func NewFileStore(dir string) (*FileStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("key store: %w", err)
	}
	// Errors name absolute paths: the operator's shell is not in jwtd's
	// working directory.
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("key store: %w", err)
	}
	s := &FileStore{dir: dir}
	names, err := s.keyFiles()
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		p := filepath.Join(dir, name)
		st, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("key store: %w", err)
		}
		if err := checkFile(p, st); err != nil {
			return nil, err
		}
	}
	return s, nil
}

const keyFileSuffix = ".jwk"

func (s *FileStore) path(id string) (string, error) {
	// A kid is base64url; anything else would be a path trick.
	if id == "" || strings.Trim(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		return "", fmt.Errorf("%w: %q", ErrUnknownKey, id)
	}
	return filepath.Join(s.dir, id+keyFileSuffix), nil
}

// List reads every key file in the directory. A file that does not decode is
// an error naming it: jwtd must not silently drop a key that signed tokens.
func (s *FileStore) List(ctx context.Context) ([]*Key, error) {
	names, err := s.keyFiles()
	if err != nil {
		return nil, err
	}
	var out []*Key
	for _, name := range names {
		p := filepath.Join(s.dir, name)
		data, err := readKeyFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted since ReadDir
		}
		if errors.Is(err, ErrInsecure) {
			return nil, err
		}
		if err != nil {
			return nil, fmt.Errorf("key store: %w", err)
		}
		k, err := UnmarshalPrivate(data)
		if err != nil {
			return nil, fmt.Errorf("key store: %s: %w", p, err)
		}
		if k.ID+keyFileSuffix != name {
			return nil, fmt.Errorf("key store: %s: %w: file name is not its kid", p, ErrCorrupt)
		}
		out = append(out, k)
	}
	return out, nil
}

// keyFiles checks the directory and returns the names of its key files:
// every *.jwk entry, directories included, so that checkFile refuses what
// is not a regular file. Dot files are Put's temporary files.
func (s *FileStore) keyFiles() ([]string, error) {
	if err := checkDir(s.dir); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("key store: %w", err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), keyFileSuffix) && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// Put writes k to <dir>/<kid>.jwk atomically.
func (s *FileStore) Put(ctx context.Context, k *Key) error {
	p, err := s.path(k.ID)
	if err != nil {
		return err
	}
	data, err := MarshalPrivate(k)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(s.dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("key store: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("key store: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("key store: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("key store: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("key store: %w", err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("key store: %w", err)
	}
	return syncDir(s.dir)
}

// Delete removes the key file for id.
func (s *FileStore) Delete(ctx context.Context, id string) error {
	p, err := s.path(id)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("key store: %w", err)
	}
	return syncDir(s.dir)
}

// syncDir makes a rename or unlink durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("key store: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("key store: %w", err)
	}
	return nil
}

// MemoryStore keeps keys in the process. Keys are lost on exit, and every
// process has its own: for tests and throw-away development servers only.
type MemoryStore struct {
	mu   sync.Mutex
	keys map[string]*Key
}

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore { return &MemoryStore{keys: map[string]*Key{}} }

// List returns copies of the stored keys.
func (s *MemoryStore) List(ctx context.Context) ([]*Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Key, 0, len(s.keys))
	for _, k := range s.keys {
		c := *k
		out = append(out, &c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Put stores a copy of k.
func (s *MemoryStore) Put(ctx context.Context, k *Key) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := *k
	s.keys[k.ID] = &c
	return nil
}

// Delete removes id.
func (s *MemoryStore) Delete(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.keys, id)
	return nil
}
