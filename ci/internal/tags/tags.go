// Package tags decides which tags an image gets from the git context: the
// commit SHA always, `latest` for the default branch or the highest release,
// and semver aliases (1.4.2, 1.4, 1) for release tags.
package tags

import (
	"fmt"
	"strings"

	"golang.org/x/mod/semver"
)

// Context is what the tag rules look at.
type Context struct {
	Event         string   // GitHub event name: push, pull_request, workflow_dispatch...
	Ref           string   // refs/heads/main, refs/tags/v1.2.3, refs/pull/7/merge
	SHA           string   // full commit SHA
	DefaultBranch string   // e.g. main
	Latest        string   // auto, always, never
	Releases      []string // every git tag of the repository, for "highest release"
}

// Plan is the decision: the tags to push, or why nothing is pushed.
type Plan struct {
	Tags    []string
	Version string // the image version: semver for releases, else the short SHA
	Skip    string // non-empty: do not publish, and why
}

// Decide applies the tag rules.
func Decide(c Context) (Plan, error) {
	if len(c.SHA) != 40 {
		return Plan{}, fmt.Errorf("commit SHA %q is not 40 hex characters", c.SHA)
	}
	plan := Plan{Tags: []string{c.SHA}, Version: c.SHA[:12]}
	if PullRequest(c.Event, c.Ref) {
		plan.Skip = "pull requests are never published"
	}
	latest := false
	switch {
	case strings.HasPrefix(c.Ref, "refs/heads/"):
		latest = strings.TrimPrefix(c.Ref, "refs/heads/") == c.DefaultBranch
	case strings.HasPrefix(c.Ref, "refs/tags/"):
		v := strings.TrimPrefix(c.Ref, "refs/tags/")
		if !IsRelease(v) {
			break
		}
		plan.Version = strings.TrimPrefix(v, "v")
		plan.Tags = append(plan.Tags, dockerTag(plan.Version))
		if semver.Prerelease(v) != "" {
			break // pre-releases get only their own tag
		}
		others := finals(c.Releases, v)
		if highest(v, others, semver.MajorMinor) {
			plan.Tags = append(plan.Tags, strings.TrimPrefix(semver.MajorMinor(v), "v"))
		}
		if highest(v, others, semver.Major) {
			plan.Tags = append(plan.Tags, strings.TrimPrefix(semver.Major(v), "v"))
		}
		latest = highest(v, others, func(string) string { return "" })
	}
	switch c.Latest {
	case "always":
		latest = true
	case "never":
		latest = false
	}
	if latest {
		plan.Tags = append(plan.Tags, "latest")
	}
	return plan, nil
}

// PullRequest reports whether an event or ref is a pull request's, whose
// code is not the repository's own yet: it is never published.
func PullRequest(event, ref string) bool {
	return strings.HasPrefix(event, "pull_request") || strings.HasPrefix(ref, "refs/pull/")
}

// IsRelease reports whether tag is a release tag: v and a full semantic
// version with three components (semver also accepts v1 and v1.2, which
// Gantry does not treat as releases).
func IsRelease(tag string) bool {
	if !semver.IsValid(tag) {
		return false
	}
	core := strings.TrimSuffix(strings.TrimSuffix(tag, semver.Build(tag)), semver.Prerelease(tag))
	return strings.Count(core, ".") == 2
}

// finals returns the release tags other than self that are not pre-releases.
func finals(all []string, self string) []string {
	var out []string
	for _, t := range all {
		if t != self && IsRelease(t) && semver.Prerelease(t) == "" {
			out = append(out, t)
		}
	}
	return out
}

// highest reports whether v is at least as high as every release in the
// same line, where line maps a version to its line (its major, its
// major.minor, or one line for all).
func highest(v string, others []string, line func(string) string) bool {
	for _, o := range others {
		if line(o) == line(v) && semver.Compare(o, v) > 0 {
			return false
		}
	}
	return true
}

// dockerTag maps a semver string onto the tag grammar, which has no '+'.
func dockerTag(s string) string {
	return strings.ReplaceAll(s, "+", "_")
}

// Alias reports whether tag is a release alias, MAJOR or MAJOR.MINOR
// (1, 1.5), which Decide gives the highest release of its line.
func Alias(tag string) bool {
	v := "v" + tag
	return semver.IsValid(v) && !IsRelease(v) && semver.Prerelease(v) == "" && semver.Build(v) == ""
}

// InLine reports whether the image tag names a final release (1.5.2, as
// Decide tags it) in alias's line: 1.5.x for 1.5, 1.x.y for 1.
func InLine(tag, alias string) bool {
	v := Semver(tag)
	if !Alias(alias) || !IsRelease(v) || semver.Prerelease(v) != "" {
		return false
	}
	if strings.Contains(alias, ".") {
		return semver.MajorMinor(v) == "v"+alias
	}
	return semver.Major(v) == "v"+alias
}

// AliasMoves decides whether alias may move to the release version of
// this run, when it points at release current now ("" if it points
// nowhere, or at no release of its line): never to a lower version, the
// rule latest follows too. If not, it says why.
func AliasMoves(alias, current, version string) (bool, string) {
	if current == "" || !InLine(current, alias) || !InLine(version, alias) {
		return true, ""
	}
	if semver.Compare(Semver(current), Semver(version)) > 0 {
		return false, fmt.Sprintf("%s stays on %s: it is higher than %s", alias, current, version)
	}
	return true, ""
}

// Semver is the semantic version a release's image tag stands for: the
// inverse of the tag Decide gives it (1.5.2_build.1 is v1.5.2+build.1).
func Semver(tag string) string { return "v" + strings.ReplaceAll(tag, "_", "+") }
