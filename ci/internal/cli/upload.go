package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"dagger.io/dagger"
	"github.com/moby/patternmatcher"

	"github.com/gantry-ci/gantry/ci/internal/dockerfile"
	"github.com/gantry-ci/gantry/ci/internal/options"
	"github.com/gantry-ci/gantry/ci/internal/pipeline"
	"github.com/gantry-ci/gantry/ci/internal/runcache"
)

// checkedPaths are files at the repository root that a module's tests may
// check (this repository's check the Dockerfile, its .dockerignore and
// compose.yaml against the pins, the workflow against its rules): every
// module's upload has them, wherever the module lies.
var checkedPaths = []string{"Dockerfile", ".dockerignore", "compose.yaml", ".github"}

// trivyignore is the scan's ignore file, at the repository root.
const trivyignore = ".trivyignore"

// upload is one directory the engine receives from --source: what include
// keeps (everything when empty), less what exclude drops, in .dockerignore
// syntax. The run cache's key digests exactly these.
type upload struct{ include, exclude []string }

func (u upload) dir(c *dagger.Client, root string) *dagger.Directory {
	return c.Host().Directory(root, dagger.HostDirectoryOpts{Include: u.include, Exclude: u.exclude})
}

func (u upload) digest(root string) (string, error) {
	return runcache.TreeDigest(root, u.include, u.exclude)
}

// uploads are everything a run sends from --source.
type uploads struct {
	modules     []upload // each of --test-modules, in its order
	dirs        []string // their directories
	repo        *upload  // the whole repository, for test commands; nil without
	context     upload   // the build context, .dockerignore applied
	trivyignore bool     // whether there is a .trivyignore to send
}

// testModules are the test stage's modules, each its own upload.
func (u uploads) testModules(c *dagger.Client, root string) []pipeline.Module {
	var mods []pipeline.Module
	for i, m := range u.modules {
		mods = append(mods, pipeline.Module{Dir: u.dirs[i], Source: m.dir(c, root)})
	}
	return mods
}

// testDigest digests every module's upload and the test commands', as the
// run cache keys them.
func (u uploads) testDigest(root string) (string, error) {
	h := sha256.New()
	if u.repo != nil {
		d, err := u.repo.digest(root)
		if err != nil {
			return "", fmt.Errorf("the test commands' upload: %w", err)
		}
		fmt.Fprintf(h, "commands %s\n", d)
	}
	for i, m := range u.modules {
		d, err := m.digest(root)
		if err != nil {
			return "", fmt.Errorf("module %s: %w", u.dirs[i], err)
		}
		fmt.Fprintf(h, "%s %s\n", u.dirs[i], d)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// neverUploaded are left out of every upload, whatever the .dockerignore
// says: git's own files, and env files, which hold secrets.
var neverUploaded = []string{".git", "**/.env", "**/.env.*"}

// planUploads plans what a run sends: withRepo adds the whole repository,
// which test commands see.
func planUploads(opts *options.Options, dockerfilePath string, withRepo bool) (uploads, error) {
	never := slices.Clone(neverUploaded)
	u := uploads{}
	var context []string
	f, err := os.Open(filepath.Join(opts.Source, ".dockerignore"))
	switch {
	case err == nil:
		defer f.Close()
		if context, err = dockerfile.ContextExcludes(f, dockerfilePath); err != nil {
			return u, fmt.Errorf("--source %s: %w", opts.Source, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return u, fmt.Errorf("--source %s: %w", opts.Source, err)
	}
	// Outputs are never inputs: a report dir inside the source must be one
	// the build context leaves out (so that a plain docker build doesn't
	// send it either), and it is left out of the test upload too.
	if rel, ok := inside(opts.Source, opts.ReportDir); ok {
		if rel == ".git" || strings.HasPrefix(rel, ".git/") {
			return u, fmt.Errorf("--report-dir %s lies inside .git: choose a directory outside it, e.g. reports", opts.ReportDir)
		}
		if !excluded(context, rel) {
			return u, fmt.Errorf("--report-dir %s lies inside the build context: choose a directory the .dockerignore excludes (e.g. reports) or one outside --source", opts.ReportDir)
		}
		never = append(never, rel)
	}
	// A module's upload is its directory without the modules nested in it
	// (each is tested on its own, or not at all), as go sees a module.
	nested, err := moduleDirs(opts.Source)
	if err != nil {
		return u, fmt.Errorf("--source %s: looking for Go modules: %w", opts.Source, err)
	}
	for _, dir := range opts.TestModules {
		if !slices.Contains(nested, dir) {
			return u, fmt.Errorf("--test-modules: %s has no go.mod under --source %s: list the directories of the Go modules to test, e.g. . for the repository root", dir, opts.Source)
		}
		exclude := slices.Clone(never)
		for _, n := range nested {
			if n != dir && (dir == "." || strings.HasPrefix(n, dir+"/")) {
				exclude = append(exclude, n)
			}
		}
		var include []string
		if dir != "." {
			include = append([]string{dir}, checkedPaths...)
		}
		u.modules = append(u.modules, upload{include: include, exclude: exclude})
		u.dirs = append(u.dirs, dir)
	}
	if withRepo {
		u.repo = &upload{exclude: never}
	}
	u.context = upload{exclude: append(context, never...)}
	if _, err := os.Stat(filepath.Join(opts.Source, trivyignore)); err == nil {
		u.trivyignore = true
	}
	return u, nil
}

// moduleDirs lists the directories under root that hold a go.mod,
// slash-separated and relative to root, skipping .git.
func moduleDirs(root string) ([]string, error) {
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if !d.IsDir() && d.Name() == "go.mod" {
			rel, err := filepath.Rel(root, filepath.Dir(p))
			if err != nil {
				return err
			}
			dirs = append(dirs, filepath.ToSlash(rel))
		}
		return nil
	})
	return dirs, err
}

// excluded reports whether the patterns leave rel out of an upload.
func excluded(patterns []string, rel string) bool {
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return false
	}
	m, _ := pm.MatchesOrParentMatches(rel)
	return m
}

// inside returns path relative to root (slash-separated) if it lies strictly
// inside root.
func inside(root, path string) (string, bool) {
	r, err1 := filepath.Abs(root)
	p, err2 := filepath.Abs(path)
	if err1 != nil || err2 != nil {
		return "", false
	}
	rel, err := filepath.Rel(r, p)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false
	}
	return filepath.ToSlash(rel), true
}
