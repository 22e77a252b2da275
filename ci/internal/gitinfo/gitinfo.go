// Package gitinfo reads what the pipeline needs from the source's git work
// tree: the commit, its time, the ref, release tags and whether the tree is
// dirty.
package gitinfo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// Info describes the commit being built.
type Info struct {
	SHA        string
	CommitTime time.Time
	Ref        string   // refs/heads/X, refs/tags/vX, or "" when detached and untagged
	Tags       []string // every tag in the repository (for "highest release")
	Dirty      []string // porcelain status lines of uncommitted changes
	// Ancestors are the commit's first parents, nearest first, at most
	// MaxAncestors; fewer in a shallow clone. A publishing run starts its
	// tests warm from the newest of them that published a signed record.
	Ancestors []string
}

// MaxAncestors is how far back a run looks for a signed record to start
// its tests from: a push of more commits than that starts cold.
const MaxAncestors = 20

// Read inspects the work tree at dir. sha and ref, when non-empty, override
// what HEAD says (CI passes GITHUB_SHA and GITHUB_REF).
func Read(ctx context.Context, dir, sha, ref string) (Info, error) {
	git := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
		return strings.TrimSpace(string(out)), nil
	}
	if _, err := git("rev-parse", "--git-dir"); err != nil {
		return Info{}, fmt.Errorf("%s is not a git work tree (gantry labels and tags images by commit): %w", dir, err)
	}
	var info Info
	head, err := git("rev-parse", "HEAD")
	if err != nil {
		return Info{}, fmt.Errorf("reading HEAD (is there a commit?): %w", err)
	}
	// What is built is the work tree, so the commit it is labelled and
	// tagged with must be the one checked out.
	if sha != "" && sha != head {
		return Info{}, fmt.Errorf("--sha %s is not the checked-out commit %s: check out that commit, or drop --sha", sha, head)
	}
	sha = head
	info.SHA = sha
	when, err := git("log", "-1", "--format=%cI", sha)
	if err != nil {
		return Info{}, fmt.Errorf("reading the time of commit %s (is it fetched?): %w", sha, err)
	}
	if info.CommitTime, err = time.Parse(time.RFC3339, when); err != nil {
		return Info{}, fmt.Errorf("parsing commit time %q: %w", when, err)
	}
	if err := refPointsAt(git, ref, sha); err != nil {
		return Info{}, err
	}
	info.Ref = ref
	if info.Ref == "" {
		if b, err := git("symbolic-ref", "-q", "HEAD"); err == nil {
			info.Ref = b
		} else if t, err := git("describe", "--exact-match", "--tags", sha); err == nil {
			info.Ref = "refs/tags/" + t
		}
	}
	tags, err := git("tag", "--list")
	if err != nil {
		return Info{}, err
	}
	info.Tags = strings.Fields(tags)
	// A shallow clone has no parents to list: that is no error.
	if parents, err := git("rev-list", "--first-parent", fmt.Sprintf("--max-count=%d", MaxAncestors+1), sha); err == nil {
		if all := strings.Fields(parents); len(all) > 1 {
			info.Ancestors = all[1:]
		}
	}
	status, err := git("status", "--porcelain")
	if err != nil {
		return Info{}, err
	}
	if status != "" {
		info.Dirty = strings.Split(status, "\n")
	}
	return info, nil
}

// refPointsAt checks that a tag ref names a tag that exists and points at
// sha, and that a branch ref, if the branch exists here, points at it too:
// otherwise any commit could be published as a release, or as latest.
func refPointsAt(git func(...string) (string, error), ref, sha string) error {
	var kind string
	switch {
	case strings.HasPrefix(ref, "refs/tags/"):
		kind = "tag"
	case strings.HasPrefix(ref, "refs/heads/"):
		kind = "branch"
	default:
		return nil // refs/pull/... and the like: nothing local to compare with
	}
	at, err := git("rev-parse", "-q", "--verify", ref+"^{commit}")
	switch {
	case err != nil && kind == "tag":
		return fmt.Errorf("--ref %s: no such tag in the repository: create and fetch it, or pass the ref being built", ref)
	case err != nil:
		return nil // a branch this clone doesn't have (detached checkout)
	case at != sha:
		return fmt.Errorf("--ref %s points at %s, not at the checked-out commit %s: check out the %s, or pass the ref being built", ref, at, sha, kind)
	}
	return nil
}

// LatestGuard allows moving latest from the commit it points at (rev) to
// sha only when sha descends from it: two pushes that race, or an old
// workflow run again, must not move latest back in history. No latest yet
// (rev "") may always move.
func LatestGuard(ctx context.Context, dir, sha, rev string) (ok bool, why string) {
	if rev == "" || rev == sha {
		return true, ""
	}
	err := exec.CommandContext(ctx, "git", "-C", dir, "merge-base", "--is-ancestor", rev, sha).Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return true, ""
	case errors.As(err, &ee) && ee.ExitCode() == 1:
		return false, fmt.Sprintf("latest stays on %s: %s does not descend from it (an older commit, or a race with a newer push)", rev, sha)
	default:
		return false, fmt.Sprintf("latest stays on %s: this clone doesn't have that commit (fetch the whole history, e.g. fetch-depth: 0), so it can't tell whether %s descends from it", rev, sha)
	}
}
