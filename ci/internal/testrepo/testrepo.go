// Package testrepo makes throwaway repositories for tests: files in a
// directory, and a git repository with a Dockerfile and a go.mod, as
// `go run ./ci` reads one.
package testrepo

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Write writes body to rel under root, making its directories.
func Write(t *testing.T, root, rel, body string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Git makes a git repository holding a Dockerfile (non-root, with an
// exec-form healthcheck) and a go.mod, committed, and returns its
// directory.
func Git(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	Write(t, dir, "Dockerfile", "FROM scratch\nUSER 65532:65532\nHEALTHCHECK CMD [\"/app\", \"healthcheck\"]\n")
	Write(t, dir, "go.mod", "module example.com/app\n")
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "c"}} {
		if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	return dir
}
