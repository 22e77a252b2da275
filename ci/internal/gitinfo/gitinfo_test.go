package gitinfo

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func gitRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_DATE=2026-01-02T03:04:05Z", "GIT_COMMITTER_DATE=2026-01-02T03:04:05Z",
			"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	run("init", "-q", "-b", "main")
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	run("add", "f")
	run("commit", "-q", "-m", "c")
	run("tag", "v1.0.0")
	return dir
}

func TestRead(t *testing.T) {
	dir := gitRepo(t)
	info, err := Read(context.Background(), dir, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(info.SHA) != 40 {
		t.Errorf("SHA = %q", info.SHA)
	}
	if !info.CommitTime.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("commit time = %v", info.CommitTime)
	}
	if info.Ref != "refs/heads/main" {
		t.Errorf("ref = %q", info.Ref)
	}
	if !slices.Equal(info.Tags, []string{"v1.0.0"}) {
		t.Errorf("tags = %q", info.Tags)
	}
	if len(info.Dirty) != 0 {
		t.Errorf("clean tree reported dirty: %q", info.Dirty)
	}

	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	info, err = Read(context.Background(), dir, "", "refs/tags/v1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Dirty) != 1 || info.Ref != "refs/tags/v1.0.0" {
		t.Errorf("dirty = %q, ref = %q", info.Dirty, info.Ref)
	}
}

func TestReadErrors(t *testing.T) {
	if _, err := Read(context.Background(), t.TempDir(), "", ""); err == nil {
		t.Error("a directory without git was accepted")
	}
	dir := gitRepo(t)
	if _, err := Read(context.Background(), dir, "0123456789abcdef0123456789abcdef01234567", ""); err == nil {
		t.Error("an unknown commit was accepted")
	}
}
