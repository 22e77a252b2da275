package repofiles

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// workflow is the part of a GitHub Actions workflow these checks read.
type workflow struct {
	On          map[string]yaml.Node `yaml:"on"`
	Permissions yaml.Node            `yaml:"permissions"`
	Jobs        map[string]struct {
		If             string            `yaml:"if"`
		Environment    string            `yaml:"environment"`
		TimeoutMinutes int               `yaml:"timeout-minutes"`
		Permissions    map[string]string `yaml:"permissions"`
		Outputs        map[string]string `yaml:"outputs"`
		Concurrency    struct {
			Group            string `yaml:"group"`
			CancelInProgress *bool  `yaml:"cancel-in-progress"`
			Queue            string `yaml:"queue"`
		} `yaml:"concurrency"`
		Steps []struct {
			ID   string         `yaml:"id"`
			Uses yaml.Node      `yaml:"uses"`
			Run  string         `yaml:"run"`
			With map[string]any `yaml:"with"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

var (
	pinnedRE  = regexp.MustCompile(`^[\w.-]+/[\w.-]+@[0-9a-f]{40}$`)
	versionRE = regexp.MustCompile(`^# v\d+\.\d+\.\d+\b`)
)

// checkWorkflow lists what the workflow gets wrong: it must do nothing but
// run the pipeline, with pinned actions, least privilege and bounded time;
// only pushes publish, in an environment, one run at a time, none dropped;
// a pull request's code never gets a token that signs or writes (issue 21).
func checkWorkflow(data []byte) []string {
	var w workflow
	if err := yaml.Unmarshal(data, &w); err != nil {
		return []string{"not YAML: " + err.Error()}
	}
	var bad []string
	if w.Permissions.Kind != yaml.MappingNode || len(w.Permissions.Content) != 0 {
		bad = append(bad, "top-level permissions must be {}: each job asks for its own")
	}
	for event := range w.On {
		if event != "push" && event != "pull_request" {
			// pull_request_target and workflow_run run untrusted code
			// with the repository's secrets and a write token.
			bad = append(bad, "triggered by "+event+": only push and pull_request")
		}
	}
	if len(w.Jobs) == 0 {
		bad = append(bad, "no jobs")
	}
	for name, j := range w.Jobs {
		if j.TimeoutMinutes <= 0 {
			bad = append(bad, name+": no timeout-minutes")
		}
		if len(j.Permissions) == 0 {
			bad = append(bad, name+": no job permissions")
		}
		publishes := false
		for k, v := range j.Permissions {
			if v == "write" && k != "packages" && k != "id-token" && k != "security-events" {
				bad = append(bad, name+": writes "+k)
			}
			publishes = publishes || v == "write"
		}
		if publishes {
			if j.If != "github.event_name == 'push'" {
				bad = append(bad, name+": writes packages or gets an OIDC token, so it must run only for pushes (if: github.event_name == 'push')")
			}
			if j.Environment == "" {
				bad = append(bad, name+": publishes outside a protected environment")
			}
			c := j.Concurrency
			if c.Group == "" || strings.Contains(c.Group, "github.ref") || c.CancelInProgress == nil || *c.CancelInProgress || c.Queue != "max" {
				bad = append(bad, name+": publishing runs must queue in one group per repository: concurrency with a fixed group, cancel-in-progress: false, queue: max")
			}
		} else if j.If != "github.event_name == 'pull_request'" {
			bad = append(bad, name+": a job without write permissions is the pull requests' (if: github.event_name == 'pull_request')")
		}
		var runs []string
		gantryStep := ""
		for _, s := range j.Steps {
			if s.Run != "" {
				runs = append(runs, s.Run)
				gantryStep = s.ID
			}
			uses := s.Uses.Value
			if uses == "" {
				continue
			}
			if !pinnedRE.MatchString(uses) || !versionRE.MatchString(s.Uses.LineComment) {
				bad = append(bad, name+": "+uses+" is not pinned by commit with a # vX.Y.Z comment")
			}
			if strings.HasPrefix(uses, "actions/checkout@") && s.With["persist-credentials"] != false {
				bad = append(bad, name+": checkout must set persist-credentials: false")
			}
		}
		if len(runs) != 1 || strings.TrimSpace(runs[0]) != "go run ./ci" {
			bad = append(bad, name+": must run only `go run ./ci`")
		}
		// A later job (a deploy) reads what was published from the job.
		if publishes && (gantryStep == "" || j.Outputs["digest"] != "${{ steps."+gantryStep+".outputs.digest }}") {
			bad = append(bad, name+": publishes, so it must export the go run ./ci step's digest (the step with an id; outputs: digest: ${{ steps.ID.outputs.digest }})")
		}
	}
	return bad
}

func TestWorkflow(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(root, ".github", "workflows", "ci.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if bad := checkWorkflow(data); len(bad) > 0 {
		t.Errorf(".github/workflows/ci.yml:\n%s", strings.Join(bad, "\n"))
	}
	// Each property is checked: breaking it in the real file is caught. The
	// breakages find what they change by pattern, so that a Dependabot bump
	// of an action or another timeout doesn't break this test.
	lit := regexp.QuoteMeta
	tests := []struct{ name, old, new string }{
		{"unpinned action", `actions/checkout@[0-9a-f]{40} # v\S+`, "actions/checkout@v4"},
		{"pin without its version", `(uses: \S+@[0-9a-f]{40}) # v\S+`, "$1"},
		{"persisted credentials", lit("persist-credentials: false"), "persist-credentials: true"},
		{"no timeout", `timeout-minutes: \d+`, "timeout-minutes: 0"},
		{"broad default permissions", lit("permissions: {}"), "permissions: write-all"},
		{"cancelled runs", lit("cancel-in-progress: false"), "cancel-in-progress: true"},
		{"a second command", lit("      - run: go run ./ci\n"), "      - run: make deploy\n      - run: go run ./ci\n"},
		{"writing contents", lit("contents: read"), "contents: write"},
		// Issue 21: who may publish.
		{"a pull request's job gets an OIDC token", `(      packages: read.*\n)`, "${1}      id-token: write\n"},
		{"a pull request's job writes packages", `packages: read`, "packages: write"},
		{"publishing for pull requests too", lit("    if: github.event_name == 'push'\n"), ""},
		{"publishing outside the environment", lit("    environment: release\n"), ""},
		{"publishing runs grouped per ref", `group: \S+`, "group: gantry-${{ github.ref }}"},
		{"a pending release dropped", lit("      queue: max\n"), ""},
		{"untrusted code with secrets", lit("  pull_request:\n"), "  pull_request_target:\n"},
		// Issue 24: a later job reads the publish's outputs.
		{"the digest not exported", `      digest: .*\n`, ""},
		{"the step without its id", `      - id: \S+\n        run:`, "      - run:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			re := regexp.MustCompile(tt.old)
			loc := re.FindStringSubmatchIndex(string(data))
			if loc == nil {
				t.Fatalf("nothing in ci.yml matches %q", tt.old)
			}
			changed := string(data[:loc[0]]) + string(re.ExpandString(nil, tt.new, string(data), loc)) + string(data[loc[1]:])
			if bad := checkWorkflow([]byte(changed)); len(bad) == 0 {
				t.Errorf("not caught: %s", tt.name)
			}
		})
	}
}
