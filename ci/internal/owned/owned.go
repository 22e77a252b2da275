// Package owned decides whether a file or directory on the host is the
// user's own: no symlink, owned by this user, and writable by nobody else.
// What Gantry keeps there (the run cache, the compiled publisher, which
// gets the signing key and the tokens) would otherwise be anyone's to plant.
package owned

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// Kinds of path.
const (
	Dir    = iota // a directory nobody else may write
	File          // a file nobody else may write
	Secret        // a file nobody else may read or write
)

// Check returns nil if path is of kind and the user's own, or an error
// saying what is wrong.
func Check(path string, kind int) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%s is a symlink", path)
	case kind == Dir && !fi.IsDir():
		return fmt.Errorf("%s is not a directory", path)
	case kind != Dir && !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file", path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return fmt.Errorf("%s belongs to uid %d, not to this user (uid %d)", path, st.Uid, os.Getuid())
	}
	bad, may := fs.FileMode(0o022), "write"
	if kind == Secret {
		bad, may = 0o077, "read or write"
	}
	if fi.Mode().Perm()&bad != 0 {
		return fmt.Errorf("%s has mode %v: others may %s it", path, fi.Mode().Perm(), may)
	}
	return nil
}
