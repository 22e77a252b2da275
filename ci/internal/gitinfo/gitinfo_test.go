package gitinfo

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
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
}

// --sha and --ref must describe the checked-out tree: the work tree is what
// gets built, labelled and tagged.
func TestReadBindsRefsToTheTree(t *testing.T) {
	dir := gitRepo(t) // main and v1.0.0 at the first commit
	first := strings.TrimSpace(gitOut(t, dir, "rev-parse", "HEAD"))
	commit(t, dir, "second")
	head := strings.TrimSpace(gitOut(t, dir, "rev-parse", "HEAD"))
	gitOut(t, dir, "tag", "v1.1.0")
	gitOut(t, dir, "branch", "old", first)
	tests := []struct {
		name, sha, ref, want string // want: substring of the error; "" = accepted
	}{
		{"defaults", "", "", ""},
		{"the HEAD sha", head, "", ""},
		{"another commit's sha", first, "", "is not the checked-out commit"},
		{"an unknown sha", "0123456789abcdef0123456789abcdef01234567", "", "is not the checked-out commit"},
		{"a tag at HEAD", "", "refs/tags/v1.1.0", ""},
		{"a tag elsewhere", "", "refs/tags/v1.0.0", "points at " + first},
		{"a tag that doesn't exist", "", "refs/tags/v9.0.0", "no such tag"},
		{"the branch at HEAD", "", "refs/heads/main", ""},
		{"a branch elsewhere", "", "refs/heads/old", "points at " + first},
		{"a branch this clone lacks", "", "refs/heads/feature", ""},
		{"a pull request ref", "", "refs/pull/7/merge", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := Read(context.Background(), dir, tt.sha, tt.ref)
			if tt.want == "" {
				if err != nil || info.SHA != head {
					t.Fatalf("Read = %s, %v; want HEAD %s", info.SHA, err, head)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func gitOut(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func commit(t *testing.T, dir, msg string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte(msg), 0o644); err != nil {
		t.Fatal(err)
	}
	gitOut(t, dir, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", msg)
}

func TestLatestGuard(t *testing.T) {
	dir := gitRepo(t)
	c1 := strings.TrimSpace(gitOut(t, dir, "rev-parse", "HEAD"))
	commit(t, dir, "c2")
	c2 := strings.TrimSpace(gitOut(t, dir, "rev-parse", "HEAD"))
	gitOut(t, dir, "checkout", "-q", "-b", "side", c1)
	commit(t, dir, "side")
	side := strings.TrimSpace(gitOut(t, dir, "rev-parse", "HEAD"))
	tests := []struct {
		name, sha, rev string
		ok             bool
		why            string
	}{
		{"no latest yet", c1, "", true, ""},
		{"the same commit again", c2, c2, true, ""},
		{"a descendant", c2, c1, true, ""},
		{"the parent of latest", c1, c2, false, "does not descend"},
		{"a commit on another branch", side, c2, false, "does not descend"},
		{"a commit this clone lacks", c2, "0123456789abcdef0123456789abcdef01234567", false, "doesn't have that commit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, why := LatestGuard(context.Background(), dir, tt.sha, tt.rev)
			if ok != tt.ok || !strings.Contains(why, tt.why) {
				t.Errorf("LatestGuard = %v, %q; want %v, %q", ok, why, tt.ok, tt.why)
			}
		})
	}
}

// Ancestors follow first parents only: a merge's other side was never a
// commit of the branch, and never published from it.
func TestAncestors(t *testing.T) {
	dir := gitRepo(t)
	rev := func() string { return strings.TrimSpace(gitOut(t, dir, "rev-parse", "HEAD")) }
	first := rev()
	if info, err := Read(context.Background(), dir, "", ""); err != nil || len(info.Ancestors) != 0 {
		t.Fatalf("a root commit: ancestors %q, %v; want none", info.Ancestors, err)
	}
	commit(t, dir, "second")
	second := rev()
	gitOut(t, dir, "checkout", "-qb", "side", first)
	commit(t, dir, "side")
	gitOut(t, dir, "checkout", "-q", "main")
	gitOut(t, dir, "-c", "user.name=t", "-c", "user.email=t@example.com", "merge", "-q", "--no-ff", "-X", "ours", "-m", "merge", "side")
	info, err := Read(context.Background(), dir, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{second, first}; !slices.Equal(info.Ancestors, want) {
		t.Errorf("ancestors = %q, want the first parents %q", info.Ancestors, want)
	}
	for range MaxAncestors + 3 {
		commit(t, dir, "c"+rev())
	}
	if info, _ := Read(context.Background(), dir, "", ""); len(info.Ancestors) != MaxAncestors {
		t.Errorf("%d ancestors after %d commits, want at most %d", len(info.Ancestors), MaxAncestors+5, MaxAncestors)
	}
}
