// Package runcache remembers runs that passed, keyed by a digest of every
// input that decides their outcome: Gantry's own binary, the source tree,
// the options, the pinned images and the vulnerability DB's digest. Running
// again on the same inputs then answers at once, the way `go test` caches
// test results. Failed runs are never recorded.
package runcache

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/patternmatcher"

	"github.com/gantry-ci/gantry/ci/internal/owned"
	"github.com/gantry-ci/gantry/ci/internal/summary"
)

// Entry is one recorded run.
type Entry struct {
	Key      string          `json:"key"`
	Finished time.Time       `json:"finished"`
	Summary  summary.Summary `json:"summary"`
	// Reports are file names in the entry's reports directory.
	Reports []string `json:"reports"`

	verified map[string][]byte // the reports as Lookup checked them
}

// Cache is a directory of entries, one subdirectory per key, each signed
// with the cache's own key: an entry someone else wrote, edited or copied
// from another key is a miss, never a passed run.
type Cache struct {
	Dir string
	mac []byte // HMAC-SHA256 key, from Dir/.key
}

// Default is the directory of the cache in the user's cache directory.
func Default() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("finding the user cache directory: %w", err)
	}
	return filepath.Join(dir, "gantry", "runs"), nil
}

const (
	entryFile = "entry.json"
	macFile   = "entry.mac"
	keyFile   = ".key"
)

// Open opens (creating it if needed) the cache in dir. It refuses a
// directory that is a symlink, owned by another user or writable by group
// or others, and a key file that is not the user's own and private: anyone
// who can write there could plant a passed run.
func Open(dir string) (Cache, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Cache{}, fmt.Errorf("creating %s: %w", dir, err)
	}
	if err := private(dir, true); err != nil {
		return Cache{}, err
	}
	path := filepath.Join(dir, keyFile)
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return Cache{}, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		_, err = f.Write([]byte(hex.EncodeToString(key)))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return Cache{}, fmt.Errorf("writing %s: %w", path, err)
		}
	} else if !errors.Is(err, fs.ErrExist) {
		return Cache{}, fmt.Errorf("creating %s: %w", path, err)
	}
	if err := private(path, false); err != nil {
		return Cache{}, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Cache{}, fmt.Errorf("reading %s: %w", path, err)
	}
	if key, err = hex.DecodeString(strings.TrimSpace(string(data))); err != nil || len(key) != 32 {
		return Cache{}, fmt.Errorf("%s is not a run cache key: remove it, and the cache starts over", path)
	}
	return Cache{Dir: dir, mac: key}, nil
}

// private checks that path is the user's own (package owned), and for
// the key file that nobody else may read it.
func private(path string, dir bool) error {
	kind := owned.Dir
	if !dir {
		kind = owned.Secret
	}
	if err := owned.Check(path, kind); err != nil {
		return fmt.Errorf("%w: use a run cache of your own (--run-cache), private to you (chmod go-w, 0600 for the key)", err)
	}
	return nil
}

// sign is the entry's MAC: over its key, its JSON and every report's
// content, so that nothing of it can change or move unnoticed.
func (c Cache) sign(key string, entry []byte, reports map[string][]byte) []byte {
	h := hmac.New(sha256.New, c.mac)
	fmt.Fprintf(h, "gantry run cache v1\x00%s\x00%d:", key, len(entry))
	h.Write(entry)
	names := make([]string, 0, len(reports))
	for n := range reports {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(h, "\x00%s\x00%d:", n, len(reports[n]))
		h.Write(reports[n])
	}
	return h.Sum(nil)
}

// Lookup returns the entry for key, or nil if there is none, or none that
// this cache signed.
func (c Cache) Lookup(key string) (*Entry, error) {
	if c.mac == nil {
		return nil, errors.New("run cache used without Open")
	}
	dir := filepath.Join(c.Dir, key)
	data, err := os.ReadFile(filepath.Join(dir, entryFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading run cache entry: %w", err)
	}
	var e Entry
	if err := json.Unmarshal(data, &e); err != nil || e.Key != key {
		// A damaged entry is a miss, not an error: the run recreates it.
		return nil, nil
	}
	reports := map[string][]byte{}
	for _, name := range e.Reports {
		if !baseName(name) {
			return nil, nil
		}
		if reports[name], err = os.ReadFile(filepath.Join(dir, "reports", name)); err != nil {
			return nil, nil
		}
	}
	mac, err := os.ReadFile(filepath.Join(dir, macFile))
	if err != nil {
		return nil, nil
	}
	want, err := hex.DecodeString(strings.TrimSpace(string(mac)))
	if err != nil || !hmac.Equal(want, c.sign(key, data, reports)) {
		return nil, nil
	}
	if e.Summary.Digest != "" {
		if _, err := v1.NewHash(e.Summary.Digest); err != nil {
			return nil, nil
		}
	}
	e.verified = reports
	return &e, nil
}

// baseName reports whether name is a plain file name, with no directory.
func baseName(name string) bool {
	return name != "" && name != "." && name != ".." && filepath.Base(name) == name && !strings.ContainsAny(name, `/\`)
}

// Store records a passed run and copies its report files. The entry appears
// whole or not at all: it is written to a temporary directory and renamed.
func (c Cache) Store(e Entry, reportFiles []string) error {
	if c.mac == nil {
		return errors.New("run cache used without Open")
	}
	tmp, err := os.MkdirTemp(c.Dir, ".tmp-")
	if err != nil {
		return fmt.Errorf("creating run cache entry: %w", err)
	}
	defer os.RemoveAll(tmp)
	e.Reports = nil
	reports := map[string][]byte{}
	for _, f := range reportFiles {
		name := filepath.Base(f)
		data, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("keeping report %s: %w", f, err)
		}
		if err := os.MkdirAll(filepath.Join(tmp, "reports"), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(tmp, "reports", name), data, 0o600); err != nil {
			return fmt.Errorf("keeping report %s: %w", f, err)
		}
		reports[name] = data
		e.Reports = append(e.Reports, name)
	}
	data, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, entryFile), data, 0o600); err != nil {
		return fmt.Errorf("writing run cache entry: %w", err)
	}
	mac := hex.EncodeToString(c.sign(e.Key, data, reports))
	if err := os.WriteFile(filepath.Join(tmp, macFile), []byte(mac), 0o600); err != nil {
		return fmt.Errorf("signing run cache entry: %w", err)
	}
	final := filepath.Join(c.Dir, e.Key)
	if err := os.RemoveAll(final); err != nil {
		return fmt.Errorf("replacing run cache entry: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("recording run cache entry: %w", err)
	}
	return nil
}

// Restore writes the entry's reports, as Lookup verified them, into dir and
// returns their paths.
func (c Cache) Restore(e *Entry, dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating --report-dir: %w", err)
	}
	var paths []string
	for _, name := range e.Reports {
		data, ok := e.verified[name]
		if !ok || !baseName(name) {
			return paths, fmt.Errorf("restoring report %s: not verified by Lookup", name)
		}
		dst := filepath.Join(dir, name)
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			return paths, fmt.Errorf("restoring report %s: %w", name, err)
		}
		paths = append(paths, dst)
	}
	return paths, nil
}

// Key digests inputs: any JSON-encodable value holding everything that
// decides a run's outcome (and nothing secret).
func Key(inputs any) (string, error) {
	data, err := json.Marshal(inputs)
	if err != nil {
		return "", fmt.Errorf("encoding run inputs: %w", err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}

// FileDigest is the sha256 of a file's contents.
func FileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// TreeDigest digests the tree under root as the engine receives it from a
// host directory upload with these include and exclude patterns
// (.dockerignore syntax, matched by BuildKit's own matcher): every path,
// file mode, file content and symlink target. No include patterns means
// everything; .git is never part of it.
func TreeDigest(root string, include, exclude []string) (string, error) {
	inc, err := patternmatcher.New(include)
	if err != nil {
		return "", fmt.Errorf("include patterns %q: %w", include, err)
	}
	exc, err := patternmatcher.New(exclude)
	if err != nil {
		return "", fmt.Errorf("exclude patterns %q: %w", exclude, err)
	}
	// within reports whether rel is kept by the include patterns, and
	// whether a directory may hold something they keep.
	within := func(rel string, dir bool) (keep, descend bool) {
		if len(include) == 0 {
			return true, true
		}
		if m, _ := inc.MatchesOrParentMatches(rel); m {
			return true, true
		}
		for _, p := range include {
			if dir && strings.HasPrefix(filepath.ToSlash(p), rel+"/") {
				return false, true
			}
		}
		return false, false
	}
	type item struct{ path, line string }
	var items []item
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		if rel == ".git" {
			return filepath.SkipDir
		}
		keep, descend := within(rel, d.IsDir())
		if excluded, _ := exc.MatchesOrParentMatches(rel); excluded {
			keep = false
			// An exception ("!dir/file") may bring back something below.
			descend = descend && exc.Exclusions()
		}
		if !keep {
			if d.IsDir() && !descend {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		var what string
		switch {
		case d.IsDir():
			what = "dir"
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			what = "link " + target
		case info.Mode().IsRegular():
			sum, err := FileDigest(path)
			if err != nil {
				return err
			}
			what = "file " + sum
		default:
			return nil // sockets, devices: the engine doesn't copy them either
		}
		items = append(items, item{rel, fmt.Sprintf("%s %o %s", rel, info.Mode().Perm(), what)})
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("digesting %s: %w", root, err)
	}
	sort.Slice(items, func(i, j int) bool { return items[i].path < items[j].path })
	h := sha256.New()
	for _, it := range items {
		io.WriteString(h, it.line)
		io.WriteString(h, "\n")
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Cached marks every stage that passed in e as cached, for the summary.
func Cached(e *Entry) summary.Summary {
	s := e.Summary
	s.Wall = 0 // that was the recorded run's
	s.Stages = append([]summary.Stage(nil), s.Stages...)
	for i, st := range s.Stages {
		if st.Status == "passed" {
			s.Stages[i].Status = "cached"
			s.Stages[i].Detail = "passed " + e.Finished.UTC().Format(time.RFC3339)
		}
	}
	return s
}
