package pipeline

import (
	"context"
	"fmt"
	"strings"

	"dagger.io/dagger"
)

func skipTests(r *Run) string {
	if r.Opts.SkipTests {
		return "--skip-tests"
	}
	return ""
}

// test runs go vet and go test over the whole workspace in the pinned Go
// image, with a PostgreSQL service for the service's integration tests.
func test(ctx context.Context, r *Run) error {
	ctr := goContainer(r).
		WithServiceBinding("db", postgres(r, "test")).
		WithEnvVariable("TEST_DATABASE_URL", databaseURL("db")).
		WithDirectory("/src", r.Source).
		WithWorkdir("/src").
		WithExec([]string{"sh", "-c", "go vet work && go test -count=1 work 2>&1"}, dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	code, err := ctr.ExitCode(ctx)
	if err != nil {
		return failWith(ExitInternal, fmt.Errorf("running tests: %w", err))
	}
	if code == 0 {
		return nil
	}
	out, _ := ctr.Stdout(ctx)
	stderr, _ := ctr.Stderr(ctx)
	fmt.Fprintf(r.Out, "%s\n%s", failingOutput(out), tail(stderr, 40))
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
