package pipeline

import (
	"context"
	"fmt"
	"io"
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
	ctr := goContainer(env).
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
