package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strings"

	"dagger.io/dagger"
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
func Test(ctx context.Context, env Env, in TestInput, log io.Writer) error {
	type outcome struct {
		what string
		code int
		out  string
	}
	results := make([]outcome, len(in.Modules)+len(in.Commands))
	g, gctx := errgroup.WithContext(ctx)
	for i, m := range in.Modules {
		g.Go(func() (err error) {
			results[i].what = "module " + m.Dir
			results[i].code, results[i].out, err = testModule(gctx, env, in, m)
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
		return graph.WithCode(ExitInternal, err)
	}
	var failed []string
	for _, r := range results {
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
		return fmt.Errorf("tests failed: %s", strings.Join(failed, ", "))
	}
	return nil
}

// withTestDB binds the tests' PostgreSQL, if the project declares one.
func withTestDB(env Env, in TestInput, ctr *dagger.Container) *dagger.Container {
	if in.PostgresURLEnv == "" {
		return ctr
	}
	return ctr.WithServiceBinding("db", postgres(env, "test")).
		WithEnvVariable(in.PostgresURLEnv, databaseURL("db"))
}

// testModule vets and tests one module and returns go's exit code and,
// when it failed, what matters of its output.
func testModule(ctx context.Context, env Env, in TestInput, m Module) (int, string, error) {
	base, err := dependencies(ctx, env, m)
	if err != nil {
		return 0, "", err
	}
	ctr := withTestDB(env, in, base).
		WithEnvVariable("GOWORK", "off").
		WithDirectory("/src", m.Source).
		WithWorkdir(path.Join("/src", m.Dir)).
		// go test's own vet checks are a subset of what go vet just ran.
		WithExec([]string{"sh", "-c", "go vet ./... && go test -count=1 -vet=off ./... 2>&1"})
	code, stdout, stderr, err := syncTest(ctx, ctr)
	if err != nil {
		return 0, "", fmt.Errorf("running the tests of module %s: %w", m.Dir, err)
	}
	if code == 0 {
		return 0, "", nil
	}
	return code, fmt.Sprintf("%s\n%s", failingOutput(stdout), tail(stderr, 40)), nil
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

// Where a layered Go container keeps its caches: in its file system.
const (
	layeredModCache   = "/gantry/gomod"
	layeredBuildCache = "/gantry/gocache"
)

// dependencies is the pinned Go image with the standard library compiled,
// then every module's dependencies downloaded, then compiled, each step a
// layer that changes only when what it depends on does: the standard
// library with the image, the downloads when a go.mod or go.sum changes,
// the compiled packages when the list of imported packages does too. The files
// it is keyed on are written from their contents, so that an edit
// elsewhere in the source leaves both layers as they were.
//
// Layers, not cache volumes: runs at once on one engine compile an
// unchanged dependency set once (the engine merges identical steps, where
// each would fill a shared volume itself: four runs of TestSharedEngine
// spent 7 m 46 s in their test stages, 2026-12-04); no run writes what
// another reads (a pull request's tests can't poison a publishing run's
// Go build cache); and a registry layer cache carries layers, not volumes
// (Dagger v0.19.10), so a fresh engine with one starts with every
// dependency downloaded and compiled.
func dependencies(ctx context.Context, env Env, m Module) (*dagger.Container, error) {
	ctr := env.Client.Container().From(env.Images.Go).
		WithEnvVariable("GOMODCACHE", layeredModCache).
		WithEnvVariable("GOCACHE", layeredBuildCache).
		WithEnvVariable("GOFLAGS", "-mod=readonly").
		WithEnvVariable("GOWORK", "off").
		// The standard library first, in a layer that only the Go image
		// keys: every module and every go.mod (a dependency bump) shares
		// it, and the tests' own compiles find it built (left out, each
		// test exec compiled the 226 packages the service's tests import:
		// 73 CPU-s, 2026-12-04).
		WithExec([]string{"go", "build", "std"})
	for _, f := range []string{"go.mod", "go.sum"} {
		data, err := m.Source.File(path.Join(m.Dir, f)).Contents(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", path.Join(m.Dir, f), err)
		}
		ctr = ctr.WithNewFile(path.Join("/deps", f), data)
	}
	ctr = ctr.WithWorkdir("/deps").WithExec([]string{"go", "mod", "download"})
	// The packages the module imports, its tests' included, outside the
	// standard library and the module itself.
	const listFormat = `{{if and (not .Standard) .Module (not .Module.Main)}}{{.ImportPath}}{{end}}`
	list, err := ctr.WithDirectory("/src", m.Source).WithWorkdir(path.Join("/src", m.Dir)).
		WithExec([]string{"sh", "-c", "go list -deps -test -f '" + listFormat + "' ./... > /tmp/packages.txt"}).
		File("/tmp/packages.txt").Contents(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing the dependencies of module %s: %w", m.Dir, err)
	}
	// A package that does not build here is the tests' to report.
	return ctr.WithNewFile("/deps/packages.txt", list).
		WithExec([]string{"sh", "-c", "xargs -r go build < packages.txt || echo 'some dependencies did not compile; the tests will say'"}).
		WithWorkdir("/"), nil
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
