// Package runcache remembers runs that passed, keyed by a digest of every
// input that decides their outcome: Gantry's own binary, the source tree,
// the options, the pinned images and the vulnerability DB's digest. Running
// again on the same inputs then answers at once, the way `go test` caches
// test results. Failed runs are never recorded.
package runcache

import (
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

	"github.com/moby/patternmatcher"

	"github.com/gantry-ci/gantry/ci/internal/summary"
)

// Entry is one recorded run.
type Entry struct {
	Key      string          `json:"key"`
	Finished time.Time       `json:"finished"`
	Summary  summary.Summary `json:"summary"`
	// Reports are file names in the entry's reports directory.
	Reports []string `json:"reports"`
}

// Cache is a directory of entries, one subdirectory per key.
type Cache struct {
	Dir string
}

// Default is the cache in the user's cache directory.
func Default() (Cache, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return Cache{}, fmt.Errorf("finding the user cache directory: %w", err)
	}
	return Cache{Dir: filepath.Join(dir, "gantry", "runs")}, nil
}

const entryFile = "entry.json"

// Lookup returns the entry for key, or nil if there is none.
func (c Cache) Lookup(key string) (*Entry, error) {
	data, err := os.ReadFile(filepath.Join(c.Dir, key, entryFile))
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
	for _, name := range e.Reports {
		if _, err := os.Stat(filepath.Join(c.Dir, key, "reports", name)); err != nil {
			return nil, nil
		}
	}
	return &e, nil
}

// Store records a passed run and copies its report files. The entry appears
// whole or not at all: it is written to a temporary directory and renamed.
func (c Cache) Store(e Entry, reportFiles []string) error {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return fmt.Errorf("creating run cache: %w", err)
	}
	tmp, err := os.MkdirTemp(c.Dir, ".tmp-")
	if err != nil {
		return fmt.Errorf("creating run cache entry: %w", err)
	}
	defer os.RemoveAll(tmp)
	e.Reports = nil
	for _, f := range reportFiles {
		name := filepath.Base(f)
		if err := copyFile(f, filepath.Join(tmp, "reports", name)); err != nil {
			return fmt.Errorf("keeping report %s: %w", f, err)
		}
		e.Reports = append(e.Reports, name)
	}
	data, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, entryFile), data, 0o644); err != nil {
		return fmt.Errorf("writing run cache entry: %w", err)
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

// Restore copies the entry's reports into dir and returns their paths.
func (c Cache) Restore(e *Entry, dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating --report-dir: %w", err)
	}
	var paths []string
	for _, name := range e.Reports {
		dst := filepath.Join(dir, name)
		if err := copyFile(filepath.Join(c.Dir, e.Key, "reports", name), dst); err != nil {
			return paths, fmt.Errorf("restoring report %s: %w", name, err)
		}
		paths = append(paths, dst)
	}
	return paths, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
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
