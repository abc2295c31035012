//go:build unix

package keys

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// checkOwner refuses a path owned by a user other than jwtd's or root:
// its owner can change its mode, or its content, whatever the mode is now.
func checkOwner(p string, st fs.FileInfo) error {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if uid := int(sys.Uid); uid != 0 && uid != os.Geteuid() {
		return &permissionError{p, fmt.Sprintf("is owned by uid %d, not by jwtd's uid %d", uid, os.Geteuid()), fmt.Sprintf("chown %d %s", os.Geteuid(), p)}
	}
	return nil
}
