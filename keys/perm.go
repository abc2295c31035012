package keys

import (
	"fmt"
	"io"
	"io/fs"
	"os"
)

// permissionError is an ErrInsecure that reads as one line: the path, what
// is wrong with it and the command that fixes it.
type permissionError struct {
	path, problem, fix string
}

func (e *permissionError) Error() string { return e.path + " " + e.problem + "; " + e.fix }

func (e *permissionError) Is(target error) bool { return target == ErrInsecure }

// who names the classes a mode grants mask's bits to: "group", "other" or
// "group and other".
func who(mode fs.FileMode, mask fs.FileMode) string {
	g, o := mode&mask&0o070 != 0, mode&mask&0o007 != 0
	switch {
	case g && o:
		return "group and other"
	case g:
		return "group"
	}
	return "other"
}

// checkDir refuses a key directory that anyone but jwtd's user (or root)
// can write: whoever can create a file in it can plant a signing key, and
// jwtd would sign with it. Reading and listing by others are allowed: they
// reveal only file names, the kids, not the keys. A symbolic link to the
// directory is followed and the directory it names is checked.
func checkDir(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("key store: %w", err)
	}
	if !st.IsDir() {
		return &permissionError{dir, "is not a directory", "point keys.dir at a directory"}
	}
	if m := st.Mode(); m&0o022 != 0 {
		return &permissionError{dir, fmt.Sprintf("is writable by %s (mode %04o)", who(m, 0o022), m.Perm()), "chmod 700 " + dir}
	}
	return checkOwner(dir, st)
}

// checkFile refuses a key file that is not a regular file owned by jwtd's
// user (or root) with no permission for group or other. A file others can
// read hands them a private key; one they can write lets them plant one. A
// symbolic link is refused rather than followed: its target could be
// anywhere, with any owner, and could be changed behind jwtd's back.
func checkFile(p string, st fs.FileInfo) error {
	m := st.Mode()
	switch {
	case m&fs.ModeSymlink != 0:
		return &permissionError{p, "is a symbolic link", "replace it with the file it points to"}
	case !m.IsRegular():
		return &permissionError{p, "is not a regular file", "remove it"}
	case m&0o077 != 0:
		return &permissionError{p, fmt.Sprintf("is open to %s (mode %04o): a private key must be readable by its owner only", who(m, 0o077), m.Perm()), "chmod 600 " + p}
	}
	return checkOwner(p, st)
}

// readKeyFile reads a key file after checking it. The file opened is
// compared with the one checked, so a file swapped in between is refused
// too.
func readKeyFile(p string) ([]byte, error) {
	st, err := os.Lstat(p)
	if err != nil {
		return nil, err
	}
	if err := checkFile(p, st); err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	opened, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !os.SameFile(st, opened) {
		return nil, &permissionError{p, "changed while it was read", "check who else writes to " + p}
	}
	return io.ReadAll(f)
}
