package dockerfile

import (
	"slices"
	"strings"
	"testing"

	"github.com/moby/patternmatcher"
)

// What the patterns keep, checked with BuildKit's matcher: the question that
// matters is which files reach the build, not how the list is spelled.
func TestContextExcludes(t *testing.T) {
	tests := []struct {
		name, dockerignore string
		kept, dropped      []string
	}{
		{"allowlist", "# allow\n*\n!go.mod\n!app/\n\n  docs  \n**/*_test.go\n",
			[]string{"go.mod", "app/main.go", "app/internal/x/x.go", "Dockerfile"},
			[]string{"README.md", "ci/main.go", "docs/a.md", "app/main_test.go"}},
		{"a leading slash anchors at the root", "/secrets\n/ci/\n",
			[]string{"app/secrets", "app/ci/x.go", "Dockerfile"},
			[]string{"secrets", "secrets/key", "ci/main.go"}},
		{"unclean patterns are cleaned", "./docs/../bench\napp//internal/\n",
			[]string{"docs/a.md", "app/main.go"},
			[]string{"bench/pipeline.sh", "app/internal/x/x.go"}},
		{"the Dockerfile is always sent", "Dockerfile\n*\n",
			[]string{"Dockerfile"},
			[]string{"go.mod"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex, err := ContextExcludes(strings.NewReader(tt.dockerignore), "Dockerfile")
			if err != nil {
				t.Fatal(err)
			}
			pm, err := patternmatcher.New(ex)
			if err != nil {
				t.Fatalf("patterns %q: %v", ex, err)
			}
			for _, p := range tt.kept {
				if drop, _ := pm.MatchesOrParentMatches(p); drop {
					t.Errorf("%s is excluded by %q", p, ex)
				}
			}
			for _, p := range tt.dropped {
				if drop, _ := pm.MatchesOrParentMatches(p); !drop {
					t.Errorf("%s is sent despite %q", p, ex)
				}
			}
		})
	}
}

func TestContextExcludesEmpty(t *testing.T) {
	for _, in := range []string{"", "# only a comment\n\n   \n"} {
		if ex, err := ContextExcludes(strings.NewReader(in), "Dockerfile"); err != nil || ex != nil {
			t.Errorf("ContextExcludes(%q) = %q, %v; want nil", in, ex, err)
		}
	}
	if ex, _ := ContextExcludes(strings.NewReader("x\n"), "Dockerfile"); !slices.Contains(ex, "x") {
		t.Errorf("pattern lost: %q", ex)
	}
	// A Dockerfile elsewhere is kept where it is.
	if ex, _ := ContextExcludes(strings.NewReader("*\n"), "build/app.Dockerfile"); !slices.Contains(ex, "!build/app.Dockerfile") {
		t.Errorf("excludes %q do not keep build/app.Dockerfile", ex)
	}
}
