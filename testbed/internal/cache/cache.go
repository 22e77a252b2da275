// Package cache lays out the test bed's cache directory and builds entries
// in it at most once: every entry's name carries a version and a key, a hash
// of everything that went into it, so changing an input rebuilds it.
package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Dir is the root of the cache.
type Dir string

// Path joins elem onto the cache root.
func (d Dir) Path(elem ...string) string {
	return filepath.Join(append([]string{string(d)}, elem...)...)
}

// Logs is where the full logs of every step are kept.
func (d Dir) Logs() string { return d.Path("logs") }

// State is the running bed's state (PIDs, registry storage, env file);
// `down` removes it, the rest of the cache stays.
func (d Dir) State() string { return d.Path("state") }

// Key hashes the given inputs (in order) into a short hex string.
func Key(inputs ...string) string {
	h := sha256.New()
	for _, in := range inputs {
		fmt.Fprintf(h, "%d:%s\x00", len(in), in)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// KeyMap hashes a map of named inputs independently of map order.
func KeyMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var in []string
	for _, k := range keys {
		in = append(in, k, m[k])
	}
	return Key(in...)
}

// Entry is the name of a cache entry: NAME-VERSION-KEY.
func Entry(name, version, key string) string {
	parts := []string{name}
	if version != "" {
		parts = append(parts, version)
	}
	return strings.Join(append(parts, key), "-")
}

// Ensure makes sure dest exists, building it with build otherwise. build
// writes into tmp (a path next to dest that does not exist yet: a file or a
// directory, as build likes), which is renamed to dest on success, so dest
// is never seen half-written. It reports whether it built.
func Ensure(dest string, build func(tmp string) error) (built bool, err error) {
	if _, err := os.Stat(dest); err == nil {
		return false, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return false, err
	}
	tmp := fmt.Sprintf("%s.tmp-%d", dest, os.Getpid())
	if err := os.RemoveAll(tmp); err != nil {
		return false, err
	}
	if err := build(tmp); err != nil {
		os.RemoveAll(tmp)
		return false, err
	}
	if err := os.Rename(tmp, dest); err != nil {
		os.RemoveAll(tmp)
		return false, fmt.Errorf("moving %s into the cache: %w", filepath.Base(dest), err)
	}
	return true, nil
}

// Prune removes the entries in dir that start with prefix other than keep:
// old versions and keys of one thing.
func Prune(dir, prefix, keep string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) || name == keep || strings.HasPrefix(keep, name+".") ||
			strings.HasPrefix(name, keep+".") {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}

// Size is the total size in bytes of the files under path.
func Size(path string) int64 {
	var n int64
	filepath.Walk(path, func(_ string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			n += info.Size()
		}
		return nil
	})
	return n
}

// HumanSize formats n bytes for people.
func HumanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
