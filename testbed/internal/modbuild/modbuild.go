// Package modbuild builds Go commands from a module version fetched from the
// Go module proxy, in a writable copy of the module directory: the way to
// build tools whose go.mod has replace directives (so `go install m@v`
// refuses them). Outputs are cached by module version and a key over every
// build input.
package modbuild

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/gantry-ci/gantry/testbed/internal/cache"
	"github.com/gantry-ci/gantry/testbed/internal/step"
)

// Spec describes one build.
type Spec struct {
	// Name names the cache entry (bin/NAME-VERSION-KEY).
	Name string
	// Module and Version to build.
	Module, Version string
	// Sum is the expected module hash (h1:…). Required when NoSumDB is set.
	Sum string
	// NoSumDB skips the checksum database for Module (it does not know
	// every version); Sum then is the only check.
	NoSumDB bool
	// Packages to build, relative to the module root (./cmd/x).
	Packages []string
	// Output names the binary when there is one package; with several,
	// each binary is named after its package directory.
	Output string
	Tags   []string
	// Files are copied from the module, by their paths in it, next to the
	// binaries (a schema a command needs at run time, say).
	Files []string
	// LDFlags is passed as -ldflags.
	LDFlags string
	// Env is added to the build environment (CGO_ENABLED=0, GOEXPERIMENT=…).
	Env []string
	// Unoptimized compiles everything outside the standard library without
	// optimizations or inlining (-N -l): for a tool the tests run briefly,
	// a quarter less CPU to build on a fresh machine (Fulcio from an empty
	// build cache: 167 CPU-s instead of 227, 2026-12-04). The standard
	// library stays optimized: its compression, crypto and runtime are
	// where such a tool spends its time.
	Unoptimized bool
	// Prepare edits the module copy before the build (may be nil);
	// PrepareKey must change whenever what Prepare writes changes.
	Prepare    func(ctx context.Context, s *step.Step, src string) error
	PrepareKey string
}

// Tool is the build of one command of a tool the tests run briefly, as
// its release is built: CGO off, no symbol table or DWARF, the version
// linked into versionVar (if set), and unoptimized (a quarter less CPU
// to build on a fresh machine, see Unoptimized). pkg is the command's
// package in the module (./cmd/x), output the binary's name.
func Tool(name, module, version, pkg, output, versionVar, versionValue string) Spec {
	ldflags := "-s -w"
	if versionVar != "" {
		ldflags += fmt.Sprintf(" -X %s=%s", versionVar, versionValue)
	}
	return Spec{Name: name, Module: module, Version: version, Packages: []string{pkg}, Output: output,
		LDFlags: ldflags, Env: []string{"CGO_ENABLED=0"}, Unoptimized: true}
}

// Download is the part of `go mod download -json` output used here.
type Download struct {
	Path, Version, Dir, Sum, GoModSum, Error string
}

// Key is the cache key of the build: every input that changes the output.
func (sp Spec) Key(goVersion string) string {
	return cache.Key(sp.Module, sp.Version, sp.Sum, strings.Join(sp.Packages, " "), sp.Output,
		strings.Join(sp.Tags, ","), strings.Join(sp.Files, " "), sp.LDFlags, strings.Join(sp.gcflags(), " | "), strings.Join(sp.Env, " "), sp.PrepareKey, goVersion)
}

// gcflags are what the build passes as -gcflags, each a package pattern
// and its flags (the last matching pattern wins). A binary linked without
// DWARF (-ldflags -w) need not have it compiled either: that took 7 % off
// compiling gantry-publish's dependency tree (178 CPU-s instead of 191,
// 2026-12-04); -ldflags -w alone leaves the compiler writing it.
func (sp Spec) gcflags() []string {
	var common []string
	if slices.Contains(strings.Fields(sp.LDFlags), "-w") {
		common = append(common, "-dwarf=false")
	}
	if !sp.Unoptimized {
		if len(common) == 0 {
			return nil
		}
		return []string{"all=" + strings.Join(common, " ")}
	}
	return []string{
		"all=" + strings.Join(append([]string{"-N", "-l"}, common...), " "),
		"std=" + strings.Join(common, " "),
	}
}

// Validate checks the spec is complete.
func (sp Spec) Validate() error {
	switch {
	case sp.Name == "" || sp.Module == "" || sp.Version == "":
		return fmt.Errorf("build spec needs a name, module and version")
	case len(sp.Packages) == 0:
		return fmt.Errorf("build spec %s has no packages", sp.Name)
	case sp.NoSumDB && sp.Sum == "":
		return fmt.Errorf("build spec %s skips the checksum DB but pins no module hash", sp.Name)
	case len(sp.Packages) == 1 && sp.Output == "":
		return fmt.Errorf("build spec %s: one package needs an output name", sp.Name)
	}
	return nil
}

// BinDir is where the outputs of sp are cached.
func BinDir(c cache.Dir, sp Spec, goVersion string) string {
	return c.Path("bin", cache.Entry(sp.Name, sp.Version, sp.Key(goVersion)))
}

// Build returns the cached output directory of sp, building it first when
// missing.
func Build(ctx context.Context, s *step.Step, c cache.Dir, sp Spec) (string, error) {
	if err := sp.Validate(); err != nil {
		return "", err
	}
	goVersion, err := GoVersion(ctx)
	if err != nil {
		return "", err
	}
	dest := BinDir(c, sp, goVersion)
	built, err := cache.Ensure(dest, func(tmp string) error {
		return build(ctx, s, c, sp, tmp)
	})
	if err != nil {
		return "", err
	}
	if !built {
		return dest, step.Skip("%s %s cached in %s", sp.Module, sp.Version, dest)
	}
	if err := cache.Prune(filepath.Dir(dest), sp.Name+"-", filepath.Base(dest)); err != nil {
		s.Logf("pruning old builds: %v", err)
	}
	return dest, nil
}

func build(ctx context.Context, s *step.Step, c cache.Dir, sp Spec, out string) error {
	mod, err := Fetch(ctx, s, sp.Module, sp.Version, sp.Sum, sp.NoSumDB)
	if err != nil {
		return err
	}
	src := c.Path("work", cache.Entry(sp.Name, sp.Version, fmt.Sprint(os.Getpid())))
	defer os.RemoveAll(src)
	if err := CopyModule(ctx, s, mod.Dir, src); err != nil {
		return err
	}
	if sp.Prepare != nil {
		if err := sp.Prepare(ctx, s, src); err != nil {
			return fmt.Errorf("preparing %s: %w", sp.Module, err)
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	target := out + "/"
	if len(sp.Packages) == 1 {
		target = filepath.Join(out, sp.Output)
	}
	args := []string{"build", "-trimpath"}
	if len(sp.Tags) > 0 {
		args = append(args, "-tags", strings.Join(sp.Tags, ","))
	}
	if sp.LDFlags != "" {
		args = append(args, "-ldflags", sp.LDFlags)
	}
	for _, gc := range sp.gcflags() {
		args = append(args, "-gcflags", gc)
	}
	args = append(args, "-o", target)
	args = append(args, sp.Packages...)
	s.Doing("compiling %s %s (%s)", sp.Module, sp.Version, strings.Join(sp.Packages, " "))
	cmd := s.Command(ctx, "go", args...)
	cmd.Dir = src
	cmd.Env = append(goEnv(sp.Module, sp.NoSumDB), sp.Env...)
	if err := s.Exec(cmd); err != nil {
		return err
	}
	for _, f := range sp.Files {
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			return fmt.Errorf("%s %s: %w", sp.Module, sp.Version, err)
		}
		if err := os.WriteFile(filepath.Join(out, filepath.Base(f)), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Prefetch downloads the modules the build of sp needs, unless its output
// is cached: network-bound work that runs while other builds hold the two
// cores, so that the build finds them downloaded and only compiles. It
// lists the packages in the module cache's read-only copy (-mod=readonly
// writes nothing), which downloads what they import, and no more.
func Prefetch(ctx context.Context, s *step.Step, c cache.Dir, sp Spec) error {
	goVersion, err := GoVersion(ctx)
	if err != nil {
		return err
	}
	if _, err := os.Stat(BinDir(c, sp, goVersion)); err == nil {
		return step.Skip("%s %s is built", sp.Module, sp.Version)
	}
	mod, err := Fetch(ctx, s, sp.Module, sp.Version, sp.Sum, sp.NoSumDB)
	if err != nil {
		return step.Skip("%v: its build will download it", err)
	}
	s.Doing("downloading the modules %s %s builds with", sp.Module, sp.Version)
	args := []string{"list", "-deps", "-f", "{{.ImportPath}}"}
	if len(sp.Tags) > 0 {
		args = append(args, "-tags", strings.Join(sp.Tags, ","))
	}
	cmd := s.Command(ctx, "go", append(args, sp.Packages...)...)
	cmd.Dir = mod.Dir
	cmd.Env = append(goEnv(sp.Module, sp.NoSumDB), sp.Env...)
	cmd.Env = append(cmd.Env, "GOFLAGS=-buildvcs=false -mod=readonly")
	if _, err := s.Output(cmd); err != nil {
		// Only a head start: the build downloads what is missing.
		return step.Skip("not all of %s %s's modules downloaded (%v): its build will", sp.Module, sp.Version, err)
	}
	return nil
}

// Fetch downloads module@version through the module proxy and checks its
// hash against sum when sum is set.
func Fetch(ctx context.Context, s *step.Step, module, version, sum string, noSumDB bool) (Download, error) {
	s.Doing("downloading %s@%s", module, version)
	cmd := s.Command(ctx, "go", "mod", "download", "-json", module+"@"+version)
	cmd.Dir = os.TempDir() // outside any module or workspace
	cmd.Env = goEnv(module, noSumDB)
	out, err := s.Output(cmd)
	var d Download
	if jerr := json.Unmarshal(out, &d); jerr != nil && err == nil {
		err = fmt.Errorf("parsing go mod download output: %w", jerr)
	}
	if d.Error != "" {
		return d, fmt.Errorf("downloading %s@%s: %s", module, version, d.Error)
	}
	if err != nil {
		return d, fmt.Errorf("downloading %s@%s: %w", module, version, err)
	}
	if sum != "" && d.Sum != sum {
		return d, fmt.Errorf("module %s@%s has hash %s, want %s", module, version, d.Sum, sum)
	}
	if d.Dir == "" {
		return d, fmt.Errorf("go mod download gave no directory for %s@%s", module, version)
	}
	return d, nil
}

// CopyModule copies a module directory out of the (read-only) module cache
// into dst and makes the copy writable.
func CopyModule(ctx context.Context, s *step.Step, src, dst string) error {
	s.Doing("copying %s", filepath.Base(src))
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	if err := s.Run(ctx, "cp", "-a", src+"/.", dst); err != nil {
		return err
	}
	return s.Run(ctx, "chmod", "-R", "u+w", dst)
}

func goEnv(module string, noSumDB bool) []string {
	env := append(os.Environ(), "GOWORK=off", "GOFLAGS=-buildvcs=false -mod=mod")
	if noSumDB {
		env = append(env, "GONOSUMDB="+module)
	}
	return env
}

var goVersion struct {
	once sync.Once
	v    string
	err  error
}

// GoVersion is the version of the go command on PATH (go1.26.8).
func GoVersion(ctx context.Context) (string, error) {
	goVersion.once.Do(func() {
		out, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output()
		if err != nil {
			err = fmt.Errorf("running go env GOVERSION: %w", err)
		}
		goVersion.v, goVersion.err = strings.TrimSpace(string(out)), err
	})
	return goVersion.v, goVersion.err
}

// BuildReleased is Build for a tool that reports its version the way
// sigs.k8s.io/release-utils prints it (`BIN version --json`, GitVersion),
// as cosign and Fulcio do: a fresh build that does not say it is
// sp.Version is removed again. bin is the binary's name in the output.
func BuildReleased(ctx context.Context, s *step.Step, c cache.Dir, sp Spec, bin string) (string, error) {
	dir, err := Build(ctx, s, c, sp)
	if err != nil { // also when cached (a Skipped error)
		return dir, err
	}
	v, err := GitVersion(ctx, filepath.Join(dir, bin))
	if err == nil && v != sp.Version {
		err = fmt.Errorf("it says it is %q, want %s", v, sp.Version)
	}
	if err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("built %s %s: %w", sp.Name, sp.Version, err)
	}
	return dir, nil
}

// ReleaseUtilsVersionVar is the variable release-utils prints as
// GitVersion, which the tools' Makefiles set (release-utils falls back to
// it when the build info has no module version, as in a module copy).
const ReleaseUtilsVersionVar = "sigs.k8s.io/release-utils/version.gitVersion"

// GitVersion reports the version the release-utils binary at path prints.
func GitVersion(ctx context.Context, path string) (string, error) {
	out, err := exec.CommandContext(ctx, path, "version", "--json").Output()
	if err != nil {
		return "", err
	}
	var info struct{ GitVersion string }
	if err := json.Unmarshal(out, &info); err != nil {
		return "", fmt.Errorf("parsing %s version --json: %w", path, err)
	}
	return info.GitVersion, nil
}
