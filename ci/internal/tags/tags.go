// Package tags decides which tags an image gets from the git context: the
// commit SHA always, `latest` for the default branch or the highest release,
// semver aliases (1.4.2, 1.4, 1) for release tags, and the project's rules:
// the branch's name, raw tags, a prefix and a suffix.
package tags

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"golang.org/x/mod/semver"
)

// Rules are a project's tag rules, beyond Gantry's own.
type Rules struct {
	// Branch adds the branch's name (Docker's tag grammar: other
	// characters become '-') to a push to a branch.
	Branch bool
	// Raw are tags every publishing run adds.
	Raw []string
	// Flavor goes around every tag but the commit SHA, which stays
	// Gantry's key to a commit's image (promotion and verify find it).
	Flavor Flavor
}

// Flavor is a prefix and a suffix around a tag: 1.4.2 is v1.4.2-alpine
// with Prefix "v" and Suffix "-alpine".
type Flavor struct{ Prefix, Suffix string }

// Tag is name in the flavor.
func (f Flavor) Tag(name string) string { return f.Prefix + name + f.Suffix }

// Name is the name a tag of the flavor stands for, or false if tag is
// not of the flavor.
func (f Flavor) Name(tag string) (string, bool) {
	name, ok := strings.CutPrefix(tag, f.Prefix)
	if !ok {
		return "", false
	}
	name, ok = strings.CutSuffix(name, f.Suffix)
	if !ok || name == "" {
		return "", false
	}
	return name, true
}

// tagRE is Docker's tag grammar.
var tagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// Validate says what is wrong with the rules, in one line.
func (r Rules) Validate() error {
	for _, t := range r.Raw {
		switch {
		case !tagRE.MatchString(r.Flavor.Tag(t)):
			return fmt.Errorf("raw tag %q (with prefix and suffix %q) is not a tag: letters, digits, '_', '.' and '-', at most 128, not starting with '.' or '-'", t, r.Flavor.Tag(t))
		case t == "latest" || Alias(t) || IsRelease("v"+t) || isSHA(t):
			return fmt.Errorf("raw tag %q is one of Gantry's own (latest, a release or its alias, a commit SHA): name it otherwise", t)
		}
	}
	if f := r.Flavor; f != (Flavor{}) && !tagRE.MatchString(f.Tag("1.0.0")) {
		return fmt.Errorf("prefix %q and suffix %q don't make tags (%q): use letters, digits, '_', '.' and '-'", f.Prefix, f.Suffix, f.Tag("1.0.0"))
	}
	return nil
}

// branchTag is a branch's name as a tag: characters a tag can't hold
// become '-', and it is cut to fit.
func branchTag(branch string) string {
	b := []byte(branch)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			b[i] = '-'
		}
	}
	t := strings.TrimLeft(string(b), ".-")
	if len(t) > 128 {
		t = t[:128]
	}
	return t
}

// Context is what the tag rules look at.
type Context struct {
	Event         string   // GitHub event name: push, pull_request, workflow_dispatch...
	Ref           string   // refs/heads/main, refs/tags/v1.2.3, refs/pull/7/merge
	SHA           string   // full commit SHA
	DefaultBranch string   // e.g. main
	Latest        string   // auto, always, never
	Releases      []string // every git tag of the repository, for "highest release"
	Rules         Rules    // the project's
}

// Plan is the decision: the tags to push, or why nothing is pushed.
type Plan struct {
	Tags    []string // the commit SHA first, then the others in Flavor
	Version string   // the image version: semver for releases, else the short SHA
	Skip    string   // non-empty: do not publish, and why
	Flavor  Flavor   // of every tag but the SHA
}

// Decide applies the tag rules.
func Decide(c Context) (Plan, error) {
	if len(c.SHA) != 40 {
		return Plan{}, fmt.Errorf("commit SHA %q is not 40 hex characters", c.SHA)
	}
	plan := Plan{Tags: []string{c.SHA}, Version: c.SHA[:12], Flavor: c.Rules.Flavor}
	if PullRequest(c.Event, c.Ref) {
		plan.Skip = "pull requests are never published"
	}
	var names []string // the tags besides the SHA, before the flavor
	latest := false
	switch {
	case strings.HasPrefix(c.Ref, "refs/heads/"):
		branch := strings.TrimPrefix(c.Ref, "refs/heads/")
		latest = branch == c.DefaultBranch
		if c.Rules.Branch {
			if t := branchTag(branch); t != "" && t != "latest" && !Alias(t) && !IsRelease("v"+t) && !isSHA(t) {
				names = append(names, t)
			}
		}
	case strings.HasPrefix(c.Ref, "refs/tags/"):
		v := strings.TrimPrefix(c.Ref, "refs/tags/")
		if !IsRelease(v) {
			break
		}
		plan.Version = strings.TrimPrefix(v, "v")
		names = append(names, dockerTag(plan.Version))
		if semver.Prerelease(v) != "" {
			break // pre-releases get only their own tag
		}
		others := finals(c.Releases, v)
		if highest(v, others, semver.MajorMinor) {
			names = append(names, strings.TrimPrefix(semver.MajorMinor(v), "v"))
		}
		if highest(v, others, semver.Major) {
			names = append(names, strings.TrimPrefix(semver.Major(v), "v"))
		}
		latest = highest(v, others, func(string) string { return "" })
	}
	switch c.Latest {
	case "always":
		latest = true
	case "never":
		latest = false
	}
	names = append(names, c.Rules.Raw...)
	if latest {
		names = append(names, "latest")
	}
	for _, n := range names {
		if t := plan.Flavor.Tag(n); !slices.Contains(plan.Tags, t) {
			plan.Tags = append(plan.Tags, t)
		}
	}
	return plan, nil
}

// Latest is the plan's latest tag, in its flavor.
func (p Plan) Latest() string { return p.Flavor.Tag("latest") }

func isSHA(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
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
