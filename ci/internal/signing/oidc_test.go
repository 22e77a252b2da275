package signing

import (
	"regexp"
	"testing"
)

func TestSameWorkflow(t *testing.T) {
	c := Claims{JobWorkflowRef: "gantry-ci/gantry/.github/workflows/ci.yml@refs/tags/v1.2.3"}
	pattern, err := c.SameWorkflow()
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(pattern)
	for _, tt := range []struct {
		identity string
		want     bool
	}{
		{"https://github.com/gantry-ci/gantry/.github/workflows/ci.yml@refs/heads/main", true},
		{"https://github.com/gantry-ci/gantry/.github/workflows/ci.yml@refs/tags/v1.2.3", true},
		{"https://github.com/gantry-ci/gantry/.github/workflows/release.yml@refs/heads/main", false},
		{"https://github.com/gantry-ci/gantry/.github/workflows/ciXyml@refs/heads/main", false},
		{"https://github.com/gantry-ci/other/.github/workflows/ci.yml@refs/heads/main", false},
		{"https://github.com/evil/x/.github/workflows/ci.yml@refs/heads/main?https://github.com/gantry-ci/gantry/.github/workflows/ci.yml@refs/", false},
	} {
		if got := re.MatchString(tt.identity); got != tt.want {
			t.Errorf("%s matches %s: %v, want %v", pattern, tt.identity, got, tt.want)
		}
	}
	for _, ref := range []string{"", "gantry-ci/gantry", "ci.yml@refs/heads/main"} {
		if p, err := (Claims{JobWorkflowRef: ref}).SameWorkflow(); err == nil {
			t.Errorf("job_workflow_ref %q gives %q, want an error", ref, p)
		}
	}
}
