package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strings"

	"dagger.io/dagger"
	"github.com/google/go-containerregistry/pkg/name"
	"golang.org/x/sync/errgroup"

	"github.com/gantry-ci/gantry/ci/internal/graph"
)

// TestInput is what the test stage takes.
type TestInput struct {
	// Modules are the Go modules that ship, each tested on its own.
	Modules []Module
	// Commands are the project's other tests.
	Commands []Command
	// PostgresURLEnv, if set, gives every test a PostgreSQL (the pinned
	// image) at host "db", its URL in the variable it names.
	PostgresURLEnv string
	// GoCaches is where the modules' Go caches come from and go to.
	GoCaches GoCaches
}

// Module is one module to vet and test.
type Module struct {
	// Dir is the module's directory in the repository ("." for the root).
	Dir string
	// Source holds the module's files, and the files its tests check, at
	// their repository paths: nothing else, so that a change elsewhere
	// (another module, the test bed, the docs) leaves its tests cached.
	Source *dagger.Directory
}

// Command is a test run in an image of the project's.
type Command struct {
	Name     string
	Image    string // a reference, pinned
	Run      []string
	Dir      string // under the repository root
	Env      map[string]string
	Services []Service
	// Source is the repository, mounted at /src.
	Source *dagger.Directory
}

// Service is a command's dependency, bound as host Name.
type Service struct {
	Name  string
	Image string // a reference, pinned
	Port  int
	Env   map[string]string
	Args  []string // nil: the image's entrypoint and command
}

// Test runs go vet and go test in every module and every command, all at
// once. Each module is tested on its own (GOWORK=off), as it is built.
func Test(ctx context.Context, env Env, in TestInput, log io.Writer) (TestResult, error) {
	type outcome struct {
		what string
		moduleResult
	}
	var seeds map[string]string
	if in.GoCaches.From != nil && len(in.Modules) > 0 {
		var from string
		seeds, from = in.GoCaches.From(ctx)
		fmt.Fprintf(log, "gantry: Go caches: %s\n", from)
	}
	results := make([]outcome, len(in.Modules)+len(in.Commands))
	g, gctx := errgroup.WithContext(ctx)
	for i, m := range in.Modules {
		g.Go(func() (err error) {
			results[i].what = "module " + m.Dir
			results[i].moduleResult, err = testModule(gctx, env, in, m, seeds[m.Dir])
			return err
		})
	}
	for j, c := range in.Commands {
		i := len(in.Modules) + j
		g.Go(func() (err error) {
			results[i].what = "command " + c.Name
			results[i].code, results[i].out, err = testCommand(gctx, env, in, c)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return TestResult{}, graph.WithCode(ExitInternal, err)
	}
	var failed []string
	var res TestResult
	for i, r := range results {
		for _, w := range r.warnings {
			fmt.Fprintf(log, "gantry: warning: %s: %s\n", r.what, w)
		}
		if r.caches != "" {
			if res.GoCaches == nil {
				res.GoCaches = map[string]string{}
			}
			res.GoCaches[in.Modules[i].Dir] = r.caches
		}
		if r.code != 0 {
			what := fmt.Sprintf("%s (exit %d)", r.what, r.code)
			if tests := failedTests(r.out, 3); len(tests) > 0 {
				what += ": " + strings.Join(tests, "; ")
			}
			failed = append(failed, what)
			fmt.Fprintf(log, "== %s\n%s", r.what, r.out)
		}
	}
	if len(failed) > 0 {
		return TestResult{}, fmt.Errorf("tests failed: %s", strings.Join(failed, ", "))
	}
	return res, nil
}

// withTestDB binds the tests' PostgreSQL, if the project declares one.
func withTestDB(env Env, in TestInput, ctr *dagger.Container) *dagger.Container {
	if in.PostgresURLEnv == "" {
		return ctr
	}
	return ctr.WithServiceBinding("db", postgres(env, "test")).
		WithEnvVariable(in.PostgresURLEnv, databaseURL("db"))
}

// moduleResult is a tested module's (or command's) exit code and, when it
// failed, what matters of its output; the image of its Go caches a later
// run may start from ("": none); and what went wrong on the way that
// fails nothing.
type moduleResult struct {
	code     int
	out      string
	caches   string
	warnings []string
}

// testModule vets and tests one module, from the Go caches seed if it is
// set, pushing its caches while the tests run when they changed.
func testModule(ctx context.Context, env Env, in TestInput, m Module, seed string) (r moduleResult, err error) {
	var seedKey string
	if seed != "" {
		// Caches that are gone or are not caches: a cold start is
		// slower, never wrong.
		if seedKey, err = env.Client.Container().From(seed).File(cachesKey).Contents(ctx); err != nil {
			r.warnings = append(r.warnings, fmt.Sprintf("starts cold: reading the Go caches %s: %v", seed, err))
			seed = ""
		}
	}
	base, changed, err := goCaches(ctx, env, m, seed, seedKey)
	if err != nil {
		return r, err
	}
	ctr := withTestDB(env, in, base).
		WithDirectory("/src", m.Source).
		WithWorkdir(path.Join("/src", m.Dir)).
		// go test's own vet checks are a subset of what go vet just ran.
		WithExec([]string{"sh", "-c", "go vet ./... && go test -count=1 -vet=off ./... 2>&1"})
	type push struct {
		ref string
		err error
	}
	pushed := make(chan push, 1)
	switch gc := in.GoCaches; {
	case gc.Push == "":
		pushed <- push{}
	case !changed:
		pushed <- push{ref: seed}
	default:
		go func() {
			ref, err := pushCaches(ctx, env, gc, m.Dir, base)
			pushed <- push{ref, err}
		}()
	}
	code, stdout, stderr, err := syncTest(ctx, ctr)
	p := <-pushed
	if p.err != nil {
		r.warnings = append(r.warnings, fmt.Sprintf("pushing its Go caches: %v; the next run starts cold", p.err))
	}
	if err != nil {
		return r, fmt.Errorf("running the tests of module %s: %w", m.Dir, err)
	}
	r.code = code
	if code == 0 {
		r.caches = p.ref
		return r, nil
	}
	r.out = fmt.Sprintf("%s\n%s", failingOutput(stdout), tail(stderr, 40))
	return r, nil
}

// pushCaches pushes the Go caches in ctr as an image of one directory and
// returns its reference by digest.
func pushCaches(ctx context.Context, env Env, gc GoCaches, dir string, ctr *dagger.Container) (string, error) {
	ref := CachesTag(gc.Push, dir)
	var opts []name.Option
	if gc.Insecure {
		opts = append(opts, name.Insecure)
	}
	tag, err := name.NewTag(ref, opts...)
	if err != nil {
		return "", err
	}
	// Copied onto an empty directory: one layer that holds the caches and
	// nothing else (the container's directory as a root file system
	// would carry every layer under it, the Go image's too).
	img := env.Client.Container().WithRootfs(env.Client.Directory().WithDirectory("/", ctr.Directory(cachesDir)))
	if gc.Token != nil {
		img = img.WithRegistryAuth(tag.RegistryStr(), gc.Username, gc.Token)
	}
	addr, err := img.Publish(ctx, ref)
	if err != nil {
		return "", err
	}
	_, digest, ok := strings.Cut(addr, "@")
	if !ok {
		return "", fmt.Errorf("the engine pushed %s and gave no digest (%q)", ref, addr)
	}
	return tag.Context().Name() + "@" + digest, nil
}

// testCommand runs one command with its services and returns its exit
// code and, when it failed, the end of its output.
func testCommand(ctx context.Context, env Env, in TestInput, c Command) (int, string, error) {
	ctr := withTestDB(env, in, env.Client.Container().From(c.Image))
	ctr = withServices(env, ctr, c.Services)
	for _, k := range slices.Sorted(maps.Keys(c.Env)) {
		ctr = ctr.WithEnvVariable(k, c.Env[k])
	}
	ctr = ctr.WithDirectory("/src", c.Source).
		WithWorkdir(path.Join("/src", c.Dir)).
		WithExec(c.Run)
	code, stdout, stderr, err := syncTest(ctx, ctr)
	if err != nil {
		return 0, "", fmt.Errorf("running the test command %s: %w", c.Name, err)
	}
	if code == 0 {
		return 0, "", nil
	}
	return code, tail(stdout, 80) + tail(stderr, 40), nil
}

// withServices binds each service to ctr at its name. Dagger starts a
// service before the container that uses it, once its port listens.
func withServices(env Env, ctr *dagger.Container, services []Service) *dagger.Container {
	for _, s := range services {
		svc := env.Client.Container().From(s.Image)
		for _, k := range slices.Sorted(maps.Keys(s.Env)) {
			svc = svc.WithEnvVariable(k, s.Env[k])
		}
		ctr = ctr.WithServiceBinding(s.Name, svc.WithExposedPort(s.Port).
			AsService(dagger.ContainerAsServiceOpts{Args: s.Args, UseEntrypoint: true}))
	}
	return ctr
}

// syncTest runs a test exec and returns its exit code and output when it
// failed. The exec must succeed: the engine caches an exec that returned,
// so with Expect: ReturnTypeAny a failure (a flaky one too) would be
// replayed on every later run of the same inputs and travel to other
// runners in the layer cache. A failed exec is never cached, so a failure
// comes back as an ExecError carrying the code and output, and the next
// run tests again, as go test does.
func syncTest(ctx context.Context, ctr *dagger.Container) (code int, stdout, stderr string, err error) {
	_, err = ctr.Sync(ctx)
	var ee *dagger.ExecError
	switch {
	case err == nil:
		return 0, "", "", nil
	case errors.As(err, &ee) && ee.ExitCode > 0:
		return ee.ExitCode, ee.Stdout, ee.Stderr, nil
	default:
		return 0, "", "", err
	}
}

// Where a Go container keeps its caches: in its file system, so that they
// are layers (see goCaches) and an image of them is one directory.
const (
	cachesDir         = "/gantry"
	layeredModCache   = cachesDir + "/gomod"
	layeredBuildCache = cachesDir + "/gocache"
	cachesKey         = "key" // in cachesDir, and at the root of their image
)

// GoCaches is how the test stage's Go caches travel from runner to
// runner: as an image per module holding GOMODCACHE and GOCACHE, which a
// later run copies into its Go container before it compiles.
type GoCaches struct {
	// From returns, by module directory, the image (pinned by digest) of
	// the caches to start from, and a phrase that says where they come
	// from or why there are none. Called as the stage starts; nil: cold.
	From func(ctx context.Context) (map[string]string, string)
	// Push is where to push each module's caches when they changed
	// (registry/name:tag; the module's directory is added to the tag),
	// with Username and Token; "": nowhere.
	Push     string
	Username string
	Token    *dagger.Secret
	Insecure bool
}

// CachesTag is the tag of module dir's Go caches next to a cache tagged
// base: buildcache-go-root for ".", buildcache-go-app-api for "app/api".
func CachesTag(base, dir string) string {
	d := strings.Trim(strings.NewReplacer("/", "-", ".", "-").Replace(path.Clean(dir)), "-")
	if d == "" {
		d = "root"
	}
	return base + "-go-" + d
}

// TestResult is what a passed test stage leaves for the record: the images
// of the Go caches, by module directory, that a later run may start from.
type TestResult struct {
	GoCaches map[string]string
}

// goCaches is the pinned Go image with the module's dependencies
// downloaded and compiled, standard library included, in its file system:
// each step a layer that changes only when what it depends on does (the
// seed, go.mod and go.sum, the list of imported packages). The files it
// is keyed on are written from their contents, so that an edit elsewhere
// in the source leaves the layers as they were.
//
// Layers, not cache volumes: runs at once on one engine compile an
// unchanged dependency set once (the engine merges identical steps, where
// each would fill a shared volume itself: four runs of TestSharedEngine
// spent 7 m 46 s in their test stages, 2026-12-04); no run writes what
// another reads; and an image carries them to a fresh engine, where a
// cache volume stays behind (Dagger v0.19.10's registry cache exports
// none; Dagger Cloud's cache, which syncs volumes, is the upstream answer,
// and out of reach offline).
//
// seed, when set, is an image of an earlier run's caches, with seedKey
// the key it was compiled for: copied in first, so that only what changed
// since compiles. Go keys its build cache by every input of a compile (the
// toolchain's too), so a seed from another Go or other dependencies costs
// space, never correctness. changed is false when the seed was compiled
// for exactly this module's key (nothing to compile, nothing to push).
func goCaches(ctx context.Context, env Env, m Module, seed, seedKey string) (ctr *dagger.Container, changed bool, err error) {
	ctr = env.Client.Container().From(env.Images.Go).
		WithEnvVariable("GOMODCACHE", layeredModCache).
		WithEnvVariable("GOCACHE", layeredBuildCache).
		WithEnvVariable("GOFLAGS", "-mod=readonly").
		WithEnvVariable("GOWORK", "off")
	if seed != "" {
		ctr = ctr.WithDirectory(cachesDir, env.Client.Container().From(seed).Rootfs())
	}
	sum := sha256.New()
	fmt.Fprintf(sum, "%s\n", env.Images.Go)
	for _, f := range []string{"go.mod", "go.sum"} {
		data, err := m.Source.File(path.Join(m.Dir, f)).Contents(ctx)
		if err != nil {
			return nil, false, fmt.Errorf("reading %s: %w", path.Join(m.Dir, f), err)
		}
		fmt.Fprintf(sum, "%s %d\n%s", f, len(data), data)
		ctr = ctr.WithNewFile(path.Join("/deps", f), data)
	}
	ctr = ctr.WithWorkdir("/deps").WithExec([]string{"go", "mod", "download"})
	// Every package the module imports, its tests' included, but its own:
	// the standard library's too (vendored ones build with those that
	// import them), not all of it (the service needs 226 of its 362
	// packages: 29.1 CPU-s to compile them, 43.0 for all, 2026-12-05).
	const listFormat = `{{if not (and .Module .Module.Main)}}{{.ImportPath}}{{end}}`
	list, err := ctr.WithDirectory("/src", m.Source).WithWorkdir(path.Join("/src", m.Dir)).
		WithExec([]string{"sh", "-c", "go list -deps -test -f '" + listFormat + "' ./... > /tmp/all.txt && grep -v '^vendor/' /tmp/all.txt | sort -u > /tmp/packages.txt"}).
		File("/tmp/packages.txt").Contents(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("listing the dependencies of module %s: %w", m.Dir, err)
	}
	fmt.Fprintf(sum, "packages\n%s", list)
	key := hex.EncodeToString(sum.Sum(nil))
	if seed != "" && key == seedKey {
		return ctr.WithWorkdir("/"), false, nil
	}
	// A package that does not build here is the tests' to report.
	return ctr.WithNewFile("/deps/packages.txt", list).
		WithExec([]string{"sh", "-c", "xargs -r go build < packages.txt || echo 'some dependencies did not compile; the tests will say'"}).
		WithNewFile(path.Join(cachesDir, cachesKey), key).
		WithWorkdir("/"), true, nil
}

// failingOutput keeps what matters of go test's output: failing tests and
// the packages that failed, or the whole output if it is short.
func failingOutput(out string) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) <= 80 {
		return out
	}
	var keep []string
	inFail := false
	for _, l := range lines {
		switch {
		case strings.HasPrefix(strings.TrimSpace(l), "--- FAIL"), strings.HasPrefix(l, "FAIL"), strings.HasPrefix(l, "panic:"):
			inFail = true
		case strings.HasPrefix(l, "ok "), strings.HasPrefix(strings.TrimSpace(l), "--- PASS"), strings.HasPrefix(l, "?"):
			inFail = false
			continue
		}
		if inFail || strings.Contains(l, ".go:") {
			keep = append(keep, l)
		}
	}
	return tail(strings.Join(keep, "\n"), 200)
}

// failedTests names up to n failing Go tests in go test's output, each with
// its first file:line message (`TestHealth in example.com/app
// (health_test.go:42: got 503)`): what a failed test stage's annotation
// says. It is empty for output that is not go test's.
func failedTests(out string, n int) []string {
	type failure struct{ test, where string }
	var pending, all []failure
	for _, l := range strings.Split(out, "\n") {
		t := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(t, "--- FAIL: "):
			name, _, _ := strings.Cut(strings.TrimPrefix(t, "--- FAIL: "), " ")
			pending = append(pending, failure{test: name})
		case len(pending) > 0 && pending[len(pending)-1].where == "" && goSourceLine(t):
			pending[len(pending)-1].where = t
		case strings.HasPrefix(l, "FAIL\t"):
			pkg, _, _ := strings.Cut(strings.TrimPrefix(l, "FAIL\t"), "\t")
			for _, f := range pending {
				f.test += " in " + pkg
				all = append(all, f)
			}
			pending = nil
		}
	}
	all = append(all, pending...)
	var names []string
	for _, f := range all {
		// A parent test fails with its subtest: name the subtest only.
		if slices.ContainsFunc(all, func(o failure) bool { return strings.HasPrefix(o.test, strings.Fields(f.test)[0]+"/") }) {
			continue
		}
		if f.where != "" {
			f.test += " (" + f.where + ")"
		}
		names = append(names, f.test)
	}
	if len(names) > n {
		names = append(names[:n], fmt.Sprintf("and %d more", len(names)-n))
	}
	return names
}

// goSourceLine reports whether a line of go test's output is a test's
// message (`health_test.go:42: got 503`).
func goSourceLine(l string) bool {
	file, rest, ok := strings.Cut(l, ".go:")
	if !ok || strings.ContainsAny(file, " \t") {
		return false
	}
	line, _, ok := strings.Cut(rest, ":")
	return ok && line != "" && strings.Trim(line, "0123456789") == ""
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d lines omitted)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n") + "\n"
}
