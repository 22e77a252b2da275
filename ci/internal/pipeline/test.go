package pipeline

import (
	"context"
	"fmt"
	"io"
	"path"
	"strings"

	"dagger.io/dagger"

	"github.com/gantry-ci/gantry/ci/internal/graph"
)

// TestInput is what the test stage takes.
type TestInput struct {
	// Source holds the modules that ship, and nothing else: the test bed
	// and the docs are never uploaded, tested or part of the key.
	Source *dagger.Directory
	// Modules are the module directories in Source to vet and test.
	Modules []string
	// Layered keeps the module and build caches in the container's file
	// system, in layers keyed by go.mod, go.sum and the imported packages,
	// instead of cache volumes: a registry layer cache carries layers, not
	// volumes (Dagger v0.19.10), so a fresh engine with that cache starts
	// with every dependency downloaded and compiled.
	Layered bool
}

// Test runs go vet and go test in every module of the source, in the pinned
// Go image, with a PostgreSQL service for the service's integration tests.
// Each module is tested on its own (GOWORK=off), as it is built.
func Test(ctx context.Context, env Env, in TestInput, log io.Writer) error {
	var script strings.Builder
	script.WriteString("set -e\n")
	for _, m := range in.Modules {
		fmt.Fprintf(&script, "echo '== module %s'\n(cd '%s' && go vet ./... && go test -count=1 ./... 2>&1)\n", m, m)
	}
	base := goContainer(env)
	if in.Layered {
		var err error
		if base, err = dependencies(ctx, env, in); err != nil {
			return graph.WithCode(ExitInternal, err)
		}
	}
	ctr := base.
		WithServiceBinding("db", postgres(env, "test")).
		WithEnvVariable("TEST_DATABASE_URL", databaseURL("db")).
		WithEnvVariable("GOWORK", "off").
		WithDirectory("/src", in.Source).
		WithWorkdir("/src").
		WithExec([]string{"sh", "-c", script.String()}, dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	code, err := ctr.ExitCode(ctx)
	if err != nil {
		return graph.WithCode(ExitInternal, fmt.Errorf("running tests: %w", err))
	}
	if code == 0 {
		return nil
	}
	out, _ := ctr.Stdout(ctx)
	stderr, _ := ctr.Stderr(ctx)
	fmt.Fprintf(log, "%s\n%s", failingOutput(out), tail(stderr, 40))
	return fmt.Errorf("go vet / go test failed (exit %d)", code)
}

// Where a layered Go container keeps its caches: in its file system.
const (
	layeredModCache   = "/gantry/gomod"
	layeredBuildCache = "/gantry/gocache"
)

// dependencies is the pinned Go image with every module's dependencies
// downloaded, then compiled, each step a layer that changes only when what
// it depends on does: the downloads when a go.mod or go.sum changes, the
// compiled packages when the list of imported packages does too. The files
// it is keyed on are written from their contents, so that an edit
// elsewhere in the source leaves both layers as they were.
func dependencies(ctx context.Context, env Env, in TestInput) (*dagger.Container, error) {
	ctr := env.Client.Container().From(env.Images.Go).
		WithEnvVariable("GOMODCACHE", layeredModCache).
		WithEnvVariable("GOCACHE", layeredBuildCache).
		WithEnvVariable("GOFLAGS", "-mod=readonly").
		WithEnvVariable("GOWORK", "off")
	for _, m := range in.Modules {
		for _, f := range []string{"go.mod", "go.sum"} {
			data, err := in.Source.File(path.Join(m, f)).Contents(ctx)
			if err != nil {
				return nil, fmt.Errorf("reading %s: %w", path.Join(m, f), err)
			}
			ctr = ctr.WithNewFile(path.Join("/deps", m, f), data)
		}
		ctr = ctr.WithWorkdir(path.Join("/deps", m)).WithExec([]string{"go", "mod", "download"})
	}
	// The packages each module imports, its tests' included, outside the
	// standard library and the module itself.
	const listFormat = `{{if and (not .Standard) .Module (not .Module.Main)}}{{.ImportPath}}{{end}}`
	lister := ctr.WithDirectory("/src", in.Source)
	for i, m := range in.Modules {
		list, err := lister.WithWorkdir(path.Join("/src", m)).
			WithExec([]string{"sh", "-c", fmt.Sprintf("go list -deps -test -f '%s' ./... > /tmp/deps-%d.txt", listFormat, i)}).
			File(fmt.Sprintf("/tmp/deps-%d.txt", i)).Contents(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing the dependencies of module %s: %w", m, err)
		}
		// A package that does not build here is the tests' to report.
		ctr = ctr.WithNewFile(path.Join("/deps", m, "packages.txt"), list).
			WithWorkdir(path.Join("/deps", m)).
			WithExec([]string{"sh", "-c", "xargs -r go build < packages.txt || echo 'some dependencies did not compile; the tests will say'"})
	}
	return ctr.WithWorkdir("/"), nil
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

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d lines omitted)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n") + "\n"
}
