// Package tags decides which tags an image gets from the git context: the
// commit SHA always, `latest` for the default branch or the highest release,
// and semver aliases (1.4.2, 1.4, 1) for release tags.
package tags

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
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
	if c.Event == "pull_request" || c.Event == "pull_request_target" {
		plan.Skip = "pull requests are never published"
	}
	latest := false
	switch {
	case strings.HasPrefix(c.Ref, "refs/heads/"):
		latest = strings.TrimPrefix(c.Ref, "refs/heads/") == c.DefaultBranch
	case strings.HasPrefix(c.Ref, "refs/tags/"):
		tag := strings.TrimPrefix(c.Ref, "refs/tags/")
		v, ok := parseSemver(tag)
		if !ok {
			break
		}
		plan.Version = v.String()
		plan.Tags = append(plan.Tags, dockerTag(v.String()))
		if v.pre != "" {
			break // pre-releases get only their own tag
		}
		others := releases(c.Releases, tag)
		if v.highestIn(others, 2) {
			plan.Tags = append(plan.Tags, fmt.Sprintf("%d.%d", v.major, v.minor))
		}
		if v.highestIn(others, 1) {
			plan.Tags = append(plan.Tags, strconv.Itoa(v.major))
		}
		latest = v.highestIn(others, 0)
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

type semver struct {
	major, minor, patch int
	pre, build          string
}

var semverRE = regexp.MustCompile(`^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$`)

func parseSemver(tag string) (semver, bool) {
	m := semverRE.FindStringSubmatch(tag)
	if m == nil {
		return semver{}, false
	}
	atoi := func(s string) int { n, _ := strconv.Atoi(s); return n }
	return semver{atoi(m[1]), atoi(m[2]), atoi(m[3]), m[4], m[5]}, true
}

func (v semver) String() string {
	s := fmt.Sprintf("%d.%d.%d", v.major, v.minor, v.patch)
	if v.pre != "" {
		s += "-" + v.pre
	}
	if v.build != "" {
		s += "+" + v.build
	}
	return s
}

// releases returns the final (non pre-release) semver tags other than self.
func releases(all []string, self string) []semver {
	var out []semver
	for _, t := range all {
		if t == self {
			continue
		}
		if v, ok := parseSemver(t); ok && v.pre == "" {
			out = append(out, v)
		}
	}
	return out
}

// highestIn reports whether v is at least as high as every release sharing
// its first `prefix` components (0: all releases, 1: same major, 2: same
// major.minor).
func (v semver) highestIn(others []semver, prefix int) bool {
	for _, o := range others {
		if prefix >= 1 && o.major != v.major || prefix >= 2 && o.minor != v.minor {
			continue
		}
		if compare(o, v) > 0 {
			return false
		}
	}
	return true
}

func compare(a, b semver) int {
	for _, d := range []int{a.major - b.major, a.minor - b.minor, a.patch - b.patch} {
		if d != 0 {
			return d
		}
	}
	return 0
}

// dockerTag maps a semver string onto the tag grammar, which has no '+'.
func dockerTag(s string) string {
	return strings.ReplaceAll(s, "+", "_")
}
