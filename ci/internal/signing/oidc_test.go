package signing

import (
	"strings"
	"testing"

	"github.com/gantry-ci/gantry/ci/internal/identity"
)

// The release policy of a run is its own workflow file of its own
// repository, pushed to the default branch or a release tag.
func TestRelease(t *testing.T) {
	c := Claims{Issuer: identity.GitHubIssuer, Repository: "gantry-ci/gantry", RepositoryID: "42",
		JobWorkflowRef: "gantry-ci/gantry/.github/workflows/ci.yml@refs/tags/v1.2.3"}
	p, err := c.Release("main")
	if err != nil {
		t.Fatal(err)
	}
	want := identity.Policy{Issuer: identity.GitHubIssuer, Repository: "gantry-ci/gantry", RepositoryID: "42",
		Workflow: ".github/workflows/ci.yml", Trigger: "push", DefaultBranch: "main"}
	if p != want {
		t.Errorf("Release = %+v, want %+v", p, want)
	}
	for _, c := range []Claims{
		{Repository: "gantry-ci/gantry"},
		{Repository: "gantry-ci/gantry", JobWorkflowRef: "gantry-ci/gantry"},
		{Repository: "gantry-ci/gantry", JobWorkflowRef: "ci.yml@refs/heads/main"},
		// A reusable workflow of another repository.
		{Repository: "gantry-ci/gantry", JobWorkflowRef: "acme/shared/.github/workflows/build.yml@refs/heads/main"},
		{JobWorkflowRef: "gantry-ci/gantry/.github/workflows/ci.yml@refs/heads/main"},
	} {
		if p, err := c.Release("main"); err == nil || !strings.Contains(err.Error(), "names no workflow of its repository") {
			t.Errorf("claims %+v give %+v, %v; want an error", c, p, err)
		}
	}
}
