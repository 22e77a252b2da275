package cli

import (
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

// shippedModules are the Go modules that make up what Gantry ships, tested
// by the test stage, each with its own files: the service (the repository
// root) and the pipeline. The test bed is a module of its own and is never
// uploaded.
var shippedModules = []struct {
	dir   string
	files []string
}{
	{".", []string{"go.mod", "go.sum", "app", "internal"}},
	{"ci", []string{"ci"}},
}

// checkedPaths are the files the modules' tests check: the Dockerfile, its
// .dockerignore and compose.yaml against the pins, the workflow against
// its rules. Every module's upload has them.
var checkedPaths = []string{"Dockerfile", ".dockerignore", "compose.yaml", ".github"}

// shippedPaths are all of those.
func shippedPaths() []string {
	var paths []string
	for _, m := range shippedModules {
		paths = append(paths, m.files...)
	}
	return append(paths, checkedPaths...)
}

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
	test        upload   // the shipped modules, as the run cache digests them
	modules     []upload // each shipped module, in the order of shippedModules
	context     upload   // the build context, .dockerignore applied
	trivyignore bool     // whether there is a .trivyignore to send
}

// testModules are the test stage's modules, each its own upload.
func (u uploads) testModules(c *dagger.Client, root string) []pipeline.Module {
	var mods []pipeline.Module
	for i, m := range shippedModules {
		mods = append(mods, pipeline.Module{Dir: m.dir, Source: u.modules[i].dir(c, root)})
	}
	return mods
}

// neverUploaded are left out of every upload, whatever the .dockerignore
// says: git's own files, and env files, which hold secrets.
var neverUploaded = []string{".git", "**/.env", "**/.env.*"}

func planUploads(opts *options.Options) (uploads, error) {
	never := slices.Clone(neverUploaded)
	u := uploads{}
	var context []string
	f, err := os.Open(filepath.Join(opts.Source, ".dockerignore"))
	switch {
	case err == nil:
		defer f.Close()
		if context, err = dockerfile.ContextExcludes(f); err != nil {
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
	// After the .dockerignore's patterns, so that its exceptions can't bring
	// them back.
	u.test = upload{include: shippedPaths(), exclude: never}
	for _, m := range shippedModules {
		u.modules = append(u.modules, upload{include: append(slices.Clone(m.files), checkedPaths...), exclude: never})
	}
	u.context = upload{exclude: append(context, never...)}
	if _, err := os.Stat(filepath.Join(opts.Source, trivyignore)); err == nil {
		u.trivyignore = true
	}
	return u, nil
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
