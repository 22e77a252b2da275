// Package upload decides what a run sends from --source to the engine, and
// so what the run cache's key digests: each Go module's tests, the test
// commands' repository, the build context, the scan's ignore file. Never
// git's files, env files, or the run's own reports.
package upload

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
	"github.com/gantry-ci/gantry/ci/internal/pipeline"
	"github.com/gantry-ci/gantry/ci/internal/runcache"
)

// checkedPaths are files at the repository root that a module's tests may
// check (this repository's check the Dockerfile, its .dockerignore and
// compose.yaml against the pins, the workflow against its rules): every
// module's upload has them, wherever the module lies.
var checkedPaths = []string{"Dockerfile", ".dockerignore", "compose.yaml", ".github"}

// Trivyignore is the scan's ignore file, at the repository root.
const Trivyignore = ".trivyignore"

// Dir is one directory the engine receives from --source: what include
// keeps (everything when empty), less what exclude drops, in .dockerignore
// syntax. The run cache's key digests exactly these.
type Dir struct{ include, exclude []string }

// Directory is d as a lazy Dagger directory.
func (d Dir) Directory(c *dagger.Client, root string) *dagger.Directory {
	return c.Host().Directory(root, dagger.HostDirectoryOpts{Include: d.include, Exclude: d.exclude})
}

// Digest digests d's files as they are now.
func (d Dir) Digest(root string) (string, error) {
	return runcache.TreeDigest(root, d.include, d.exclude)
}

// Plan is everything a run sends from --source.
type Plan struct {
	modules     []Dir    // each of --test-modules, in its order
	dirs        []string // their directories
	Repo        *Dir     // the whole repository, for test commands; nil without
	Context     Dir      // the build context, .dockerignore applied
	Trivyignore bool     // whether there is a .trivyignore to send
}

// TestModules are the test stage's modules, each its own upload.
func (u Plan) TestModules(c *dagger.Client, root string) []pipeline.Module {
	var mods []pipeline.Module
	for i, m := range u.modules {
		mods = append(mods, pipeline.Module{Dir: u.dirs[i], Source: m.Directory(c, root)})
	}
	return mods
}

// TestDigest digests every module's upload and the test commands', as the
// run cache keys them.
func (u Plan) TestDigest(root string) (string, error) {
	h := sha256.New()
	if u.Repo != nil {
		d, err := u.Repo.Digest(root)
		if err != nil {
			return "", fmt.Errorf("the test commands' upload: %w", err)
		}
		fmt.Fprintf(h, "commands %s\n", d)
	}
	for i, m := range u.modules {
		d, err := m.Digest(root)
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

// Input is what decides a run's uploads.
type Input struct {
	Source      string   // the repository root
	ReportDir   string   // where the run writes its reports
	TestModules []string // the Go modules to test, slash-separated
	Dockerfile  string   // the Dockerfile's path under Source
	WithRepo    bool     // send the whole repository, which test commands see
}

// New plans what a run sends.
func New(in Input) (Plan, error) {
	never := slices.Clone(neverUploaded)
	u := Plan{}
	var context []string
	f, err := os.Open(filepath.Join(in.Source, ".dockerignore"))
	switch {
	case err == nil:
		defer f.Close()
		if context, err = dockerfile.ContextExcludes(f, in.Dockerfile); err != nil {
			return u, fmt.Errorf("--source %s: %w", in.Source, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return u, fmt.Errorf("--source %s: %w", in.Source, err)
	}
	// Outputs are never inputs: a report dir inside the source must be one
	// the build context leaves out (so that a plain docker build doesn't
	// send it either), and it is left out of the test upload too.
	if rel, ok := inside(in.Source, in.ReportDir); ok {
		if rel == ".git" || strings.HasPrefix(rel, ".git/") {
			return u, fmt.Errorf("--report-dir %s lies inside .git: choose a directory outside it, e.g. reports", in.ReportDir)
		}
		if !excluded(context, rel) {
			return u, fmt.Errorf("--report-dir %s lies inside the build context: choose a directory the .dockerignore excludes (e.g. reports) or one outside --source", in.ReportDir)
		}
		never = append(never, rel)
	}
	// A module's upload is its directory without the modules nested in it
	// (each is tested on its own, or not at all), as go sees a module.
	nested, err := moduleDirs(in.Source)
	if err != nil {
		return u, fmt.Errorf("--source %s: looking for Go modules: %w", in.Source, err)
	}
	for _, dir := range in.TestModules {
		if !slices.Contains(nested, dir) {
			return u, fmt.Errorf("--test-modules: %s has no go.mod under --source %s: list the directories of the Go modules to test, e.g. . for the repository root", dir, in.Source)
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
		u.modules = append(u.modules, Dir{include: include, exclude: exclude})
		u.dirs = append(u.dirs, dir)
	}
	if in.WithRepo {
		u.Repo = &Dir{exclude: never}
	}
	u.Context = Dir{exclude: append(context, never...)}
	if _, err := os.Stat(filepath.Join(in.Source, Trivyignore)); err == nil {
		u.Trivyignore = true
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
