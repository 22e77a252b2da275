package tags

import (
	"slices"
	"strings"
	"testing"
)

const sha = "0123456789abcdef0123456789abcdef01234567"

func TestDecide(t *testing.T) {
	tests := []struct {
		name    string
		ctx     Context
		tags    []string
		version string
		skip    bool
	}{
		{"push to default branch", Context{Event: "push", Ref: "refs/heads/main"}, []string{sha, "latest"}, "0123456789ab", false},
		{"push to other branch", Context{Event: "push", Ref: "refs/heads/feature/x"}, []string{sha}, "0123456789ab", false},
		{"pull request is never published", Context{Event: "pull_request", Ref: "refs/pull/7/merge"}, []string{sha}, "0123456789ab", true},
		{"default branch, latest never", Context{Event: "push", Ref: "refs/heads/main", Latest: "never"}, []string{sha}, "0123456789ab", false},
		{"other branch, latest always", Context{Event: "push", Ref: "refs/heads/dev", Latest: "always"}, []string{sha, "latest"}, "0123456789ab", false},
		{"workflow_dispatch on main", Context{Event: "workflow_dispatch", Ref: "refs/heads/main"}, []string{sha, "latest"}, "0123456789ab", false},
		{"first release", Context{Event: "push", Ref: "refs/tags/v1.4.2", Releases: []string{"v1.4.2"}}, []string{sha, "1.4.2", "1.4", "1", "latest"}, "1.4.2", false},
		{"highest release", Context{Event: "push", Ref: "refs/tags/v1.4.2", Releases: []string{"v1.4.1", "v1.3.9", "v0.9.0", "v1.4.2"}}, []string{sha, "1.4.2", "1.4", "1", "latest"}, "1.4.2", false},
		{"patch of an older line", Context{Event: "push", Ref: "refs/tags/v1.3.10", Releases: []string{"v1.4.2", "v1.3.9"}}, []string{sha, "1.3.10", "1.3"}, "1.3.10", false},
		{"patch of an older major", Context{Event: "push", Ref: "refs/tags/v1.9.1", Releases: []string{"v2.0.0", "v1.9.0"}}, []string{sha, "1.9.1", "1.9", "1"}, "1.9.1", false},
		{"older patch in its minor line", Context{Event: "push", Ref: "refs/tags/v1.4.1", Releases: []string{"v1.4.2"}}, []string{sha, "1.4.1"}, "1.4.1", false},
		{"pre-release gets only its own tag", Context{Event: "push", Ref: "refs/tags/v1.5.0-rc.1", Releases: []string{"v1.4.2"}}, []string{sha, "1.5.0-rc.1"}, "1.5.0-rc.1", false},
		{"pre-releases don't block latest", Context{Event: "push", Ref: "refs/tags/v1.4.3", Releases: []string{"v1.5.0-rc.1", "v1.4.2"}}, []string{sha, "1.4.3", "1.4", "1", "latest"}, "1.4.3", false},
		{"build metadata", Context{Event: "push", Ref: "refs/tags/v2.0.0+build.5"}, []string{sha, "2.0.0_build.5", "2.0", "2", "latest"}, "2.0.0+build.5", false},
		{"non-semver tag gets only the sha", Context{Event: "push", Ref: "refs/tags/nightly"}, []string{sha}, "0123456789ab", false},
		{"v-prefixed but not semver", Context{Event: "push", Ref: "refs/tags/v1.2"}, []string{sha}, "0123456789ab", false},
		{"major only is not a release", Context{Event: "push", Ref: "refs/tags/v1"}, []string{sha}, "0123456789ab", false},
		{"leading zero is not semver", Context{Event: "push", Ref: "refs/tags/v1.04.2"}, []string{sha}, "0123456789ab", false},
		{"no v prefix", Context{Event: "push", Ref: "refs/tags/1.4.2"}, []string{sha}, "0123456789ab", false},
		{"two-component tags don't count as higher releases", Context{Event: "push", Ref: "refs/tags/v1.4.2", Releases: []string{"v1.5", "v2"}}, []string{sha, "1.4.2", "1.4", "1", "latest"}, "1.4.2", false},
		{"pre-release ordering", Context{Event: "push", Ref: "refs/tags/v1.5.0-rc.10", Releases: []string{"v1.5.0-rc.9"}}, []string{sha, "1.5.0-rc.10"}, "1.5.0-rc.10", false},
		{"release, latest never", Context{Event: "push", Ref: "refs/tags/v3.0.0", Latest: "never"}, []string{sha, "3.0.0", "3.0", "3"}, "3.0.0", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.ctx
			c.SHA = sha
			c.DefaultBranch = "main"
			if c.Latest == "" {
				c.Latest = "auto"
			}
			plan, err := Decide(c)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(plan.Tags, tt.tags) {
				t.Errorf("tags = %q, want %q", plan.Tags, tt.tags)
			}
			if plan.Version != tt.version {
				t.Errorf("version = %q, want %q", plan.Version, tt.version)
			}
			if (plan.Skip != "") != tt.skip {
				t.Errorf("skip = %q, want skip=%v", plan.Skip, tt.skip)
			}
		})
	}
}

func TestDecideRejectsShortSHA(t *testing.T) {
	if _, err := Decide(Context{SHA: "abc123", Ref: "refs/heads/main"}); err == nil {
		t.Fatal("short SHA accepted")
	}
}

func TestAliases(t *testing.T) {
	for _, tt := range []struct {
		tag   string
		alias bool
	}{
		{"1", true}, {"1.5", true}, {"0", true},
		{"1.5.2", false}, {"latest", false}, {"1.5.0-rc.1", false}, {"v1", false}, {"1.05", false}, {sha, false},
	} {
		if got := Alias(tt.tag); got != tt.alias {
			t.Errorf("Alias(%q) = %v, want %v", tt.tag, got, tt.alias)
		}
	}
	for _, tt := range []struct {
		tag, alias string
		in         bool
	}{
		{"1.5.2", "1.5", true}, {"1.5.2", "1", true}, {"2.0.0_build.5", "2", true},
		{"1.6.0", "1.5", false}, {"2.5.0", "1", false}, {"1.5.2-rc.1", "1.5", false},
		{"1.5", "1", false}, {"1.5.2", "1.5.2", false}, {"latest", "1", false},
	} {
		if got := InLine(tt.tag, tt.alias); got != tt.in {
			t.Errorf("InLine(%q, %q) = %v, want %v", tt.tag, tt.alias, got, tt.in)
		}
	}
}

// The aliases never move to a lower version: a re-run of an old release,
// or one whose checkout lacks the newer tag, leaves them where they are.
func TestAliasMoves(t *testing.T) {
	for _, tt := range []struct {
		name, alias, current, version string
		moves                         bool
	}{
		{"new alias", "1.5", "", "1.5.1", true},
		{"higher patch", "1.5", "1.5.1", "1.5.2", true},
		{"same release again", "1.5", "1.5.2", "1.5.2", true},
		{"lower patch", "1.5", "1.5.2", "1.5.1", false},
		{"lower minor under the major", "1", "1.6.0", "1.5.3", false},
		{"higher minor under the major", "1", "1.5.3", "1.6.0", true},
		{"build metadata is no higher", "2", "2.0.0_build.5", "2.0.0", true},
		{"points at no release of its line", "1", "0.9.0", "1.0.0", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			moves, why := AliasMoves(tt.alias, tt.current, tt.version)
			if moves != tt.moves {
				t.Fatalf("AliasMoves(%q, %q, %q) = %v (%s), want %v", tt.alias, tt.current, tt.version, moves, why, tt.moves)
			}
			if !moves && (!strings.Contains(why, tt.alias+" stays on "+tt.current) || !strings.Contains(why, tt.version)) {
				t.Errorf("why = %q, want it to name %s, %s and %s", why, tt.alias, tt.current, tt.version)
			}
		})
	}
}

// A project's rules: the branch's name, raw tags, and a flavor around
// every tag but the commit SHA.
func TestRules(t *testing.T) {
	alpine := Flavor{Prefix: "v", Suffix: "-alpine"}
	tests := []struct {
		name  string
		ref   string
		rules Rules
		tags  []string
	}{
		{"the default branch's name", "refs/heads/main", Rules{Branch: true}, []string{sha, "main", "latest"}},
		{"a branch's name as a tag", "refs/heads/feature/Login_2", Rules{Branch: true}, []string{sha, "feature-Login_2"}},
		{"a branch named like a release alias", "refs/heads/1.5", Rules{Branch: true}, []string{sha}},
		{"a branch named latest", "refs/heads/latest", Rules{Branch: true}, []string{sha}},
		{"no branch tag on a release", "refs/tags/v1.4.2", Rules{Branch: true}, []string{sha, "1.4.2", "1.4", "1", "latest"}},
		{"raw tags", "refs/heads/main", Rules{Raw: []string{"edge", "nightly"}}, []string{sha, "edge", "nightly", "latest"}},
		{"raw tags on a release", "refs/tags/v1.4.2", Rules{Raw: []string{"stable"}}, []string{sha, "1.4.2", "1.4", "1", "stable", "latest"}},
		{"a flavor", "refs/tags/v1.4.2", Rules{Flavor: alpine}, []string{sha, "v1.4.2-alpine", "v1.4-alpine", "v1-alpine", "vlatest-alpine"}},
		{"a suffix on everything but the SHA", "refs/heads/main", Rules{Branch: true, Raw: []string{"edge"}, Flavor: Flavor{Suffix: "-debug"}}, []string{sha, "main-debug", "edge-debug", "latest-debug"}},
		{"the branch and a raw tag alike", "refs/heads/edge", Rules{Branch: true, Raw: []string{"edge"}}, []string{sha, "edge"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan, err := Decide(Context{Event: "push", Ref: tt.ref, SHA: sha, DefaultBranch: "main", Latest: "auto", Rules: tt.rules, Releases: []string{"v1.4.2"}})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(plan.Tags, tt.tags) {
				t.Errorf("tags = %q, want %q", plan.Tags, tt.tags)
			}
			if got, want := plan.Latest(), tt.rules.Flavor.Prefix+"latest"+tt.rules.Flavor.Suffix; got != want {
				t.Errorf("Latest() = %q, want %q", got, want)
			}
		})
	}
}

func TestFlavor(t *testing.T) {
	f := Flavor{Prefix: "v", Suffix: "-alpine"}
	for _, tt := range []struct {
		tag, name string
		ok        bool
	}{
		{"v1.5-alpine", "1.5", true}, {"vlatest-alpine", "latest", true},
		{"1.5-alpine", "", false}, {"v1.5", "", false}, {"v-alpine", "", false}, {sha, "", false},
	} {
		if name, ok := f.Name(tt.tag); name != tt.name || ok != tt.ok {
			t.Errorf("Name(%q) = %q, %v; want %q, %v", tt.tag, name, ok, tt.name, tt.ok)
		}
	}
	if name, ok := (Flavor{}).Name("1.5"); name != "1.5" || !ok {
		t.Errorf("no flavor: Name(1.5) = %q, %v", name, ok)
	}
}

func TestRulesValidate(t *testing.T) {
	for _, tt := range []struct {
		name  string
		rules Rules
		want  string // in the error; "" for none
	}{
		{"none", Rules{}, ""},
		{"raw tags and a flavor", Rules{Raw: []string{"edge", "stable"}, Flavor: Flavor{Prefix: "app-", Suffix: "-slim"}}, ""},
		{"a raw tag with a slash", Rules{Raw: []string{"feature/x"}}, `raw tag "feature/x"`},
		{"latest as a raw tag", Rules{Raw: []string{"latest"}}, "one of Gantry's own"},
		{"a release as a raw tag", Rules{Raw: []string{"1.2.3"}}, "one of Gantry's own"},
		{"an alias as a raw tag", Rules{Raw: []string{"2"}}, "one of Gantry's own"},
		{"a prefix that makes no tag", Rules{Flavor: Flavor{Prefix: "-"}}, `prefix "-" and suffix ""`},
		{"a suffix with a space", Rules{Flavor: Flavor{Suffix: " alpine"}}, "don't make tags"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.rules.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}
