package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-ci/gantry/ci/internal/project"
	"github.com/gantry-ci/gantry/ci/internal/testrepo"
)

// A wrong declaration in ci/main.go is a usage error too: exit 2, one line
// naming what is wrong, before the engine is contacted.
func TestDeclarationErrors(t *testing.T) {
	src := testrepo.Git(t)
	for _, tt := range []struct {
		name string
		decl project.Project
		want string
	}{
		{"a documentation URL without a scheme", project.Project{Documentation: "docs.acme.example"}, "gantry.Image.Documentation"},
		{"no Dockerfile where declared", project.Project{Build: project.Build{Dockerfile: "build/app.Dockerfile"}}, "with the Dockerfile at build/app.Dockerfile (gantry.Build.Dockerfile)"},
		{"a target the Dockerfile lacks", project.Project{Build: project.Build{Target: "prod"}}, `no stage called "prod"`},
		{"a build secret whose variable is unset", project.Project{Build: project.Build{Secrets: map[string]string{"npmrc": "GANTRY_TEST_NPM_TOKEN"}}},
			"the build secret npmrc (gantry.Build.Secrets) is read from $GANTRY_TEST_NPM_TOKEN, which is empty or unset"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Run(context.Background(), tt.decl, []string{"--dry-run", "--source", src}, &stdout, &stderr, func(string) string { return "" })
			if code != 2 {
				t.Fatalf("exit %d, want 2", code)
			}
			if got := strings.TrimSpace(stderr.String()); !strings.Contains(got, tt.want) || strings.Contains(got, "\n") {
				t.Errorf("stderr = %q, want one line saying %q", got, tt.want)
			}
		})
	}
}

// Every usage error exits 2 with one line, before any engine is contacted
// (the tests have none: reaching it would fail differently).
func TestUsageErrors(t *testing.T) {
	clean := testrepo.Git(t)
	dirty := testrepo.Git(t)
	os.WriteFile(filepath.Join(dirty, "new-file"), []byte("x"), 0o644)
	notGit := t.TempDir()
	testrepo.Write(t, notGit, "Dockerfile", "FROM scratch\n")
	testrepo.Write(t, notGit, "go.mod", "module example.com/app\n")
	tagImages := filepath.Join(t.TempDir(), "images.json")
	testrepo.Write(t, filepath.Dir(tagImages), "images.json", `{"trivy": "aquasec/trivy:latest"}`)
	withIgnore := testrepo.Git(t)
	testrepo.Write(t, withIgnore, ".dockerignore", "*\n!app/\nreports\n")
	badImages := filepath.Join(t.TempDir(), "images.json")
	os.WriteFile(badImages, []byte(`{"go": ""`), 0o644)

	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown flag", []string{"--frobnicate"}, nil, "unknown flag: --frobnicate"},
		{"stray argument", []string{"--dry-run", "build"}, nil, `unexpected argument "build"`},
		{"bad severity", []string{"--dry-run", "--severity", "SEVERE", "--source", clean}, nil, "unknown severity"},
		{"upper-case image", []string{"--dry-run", "--image", "Me/App", "--source", clean}, nil, "upper-case"},
		{"no token", []string{"--image", "me/app", "--username", "me", "--source", clean}, nil, "needs a registry token"},
		{"dirty tree when publishing", []string{"--image", "me/app", "--username", "me", "--source", dirty}, map[string]string{"GITHUB_TOKEN": "t"}, "uncommitted change"},
		{"no Dockerfile", []string{"--dry-run", "--source", t.TempDir()}, nil, "Dockerfile"},
		{"not a git tree", []string{"--dry-run", "--source", notGit}, nil, "not a git work tree"},
		{"bad image set", []string{"--dry-run", "--source", clean, "--images", badImages}, nil, "--images"},
		{"image set pinned by tag", []string{"--dry-run", "--source", clean, "--images", tagImages}, nil, `"trivy": "aquasec/trivy:latest" is not pinned by digest`},
		{"report dir inside the build context", []string{"--dry-run", "--source", withIgnore, "--report-dir", filepath.Join(withIgnore, "app", "reports")}, nil, "inside the build context"},
		{"report dir inside .git", []string{"--dry-run", "--source", withIgnore, "--report-dir", filepath.Join(withIgnore, ".git", "reports")}, nil, "inside .git"},
		{"a release tag that doesn't exist", []string{"--dry-run", "--source", clean, "--ref", "refs/tags/v9.0.0"}, nil, "no such tag"},
		{"a sha that isn't HEAD", []string{"--dry-run", "--source", clean, "--sha", "0123456789abcdef0123456789abcdef01234567"}, nil, "is not the checked-out commit"},
		{"report dir in a source without .dockerignore", []string{"--dry-run", "--source", clean, "--report-dir", filepath.Join(clean, "reports")}, nil, "inside the build context"},
		{"a test module without go.mod", []string{"--dry-run", "--source", clean, "--test-modules", ".,api"}, nil, "--test-modules: api has no go.mod"},
		{"a test module outside the source", []string{"--dry-run", "--source", clean, "--test-modules", "../other"}, nil, `--test-modules: "../other" is not a directory inside --source`},
		{"missing image set", []string{"--dry-run", "--source", clean, "--images", "/nonexistent.json"}, nil, "--images"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			getenv := func(k string) string { return tt.env[k] }
			code := Run(context.Background(), project.Project{}, tt.args, &stdout, &stderr, getenv)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stderr %q", code, stderr.String())
			}
			msg := stderr.String()
			if strings.Count(msg, "\n") != 1 || !strings.Contains(msg, tt.want) {
				t.Errorf("stderr = %q, want one line containing %q", msg, tt.want)
			}
		})
	}
}

// The token reaches the engine only as a Dagger secret: the processes
// Gantry starts don't inherit it. A git on PATH records its environment.
func TestTokenIsNotInherited(t *testing.T) {
	dirty := testrepo.Git(t)
	testrepo.Write(t, dirty, "new-file", "x")
	bin := t.TempDir()
	dump := filepath.Join(t.TempDir(), "git-env")
	realGit, err := exec.LookPath("git")
	if err != nil {
		t.Fatal(err)
	}
	testrepo.Write(t, bin, "git", "#!/bin/sh\nenv >> '"+dump+"'\nexec '"+realGit+"' \"$@\"\n")
	if err := os.Chmod(filepath.Join(bin, "git"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	const token = "tok-3e1f0c9a7b"
	t.Setenv("GANTRY_E2E_TOKEN", token)
	var stdout, stderr bytes.Buffer
	// Publishing from a dirty tree fails after git has run, before the engine.
	code := Run(context.Background(), project.Project{}, []string{"--image", "me/app", "--username", "me", "--source", dirty, "--token-env", "GANTRY_E2E_TOKEN"},
		&stdout, &stderr, os.Getenv)
	if code != 2 || !strings.Contains(stderr.String(), "uncommitted change") {
		t.Fatalf("exit %d, stderr %q; want the dirty-tree usage error, after git ran", code, stderr.String())
	}
	env, err := os.ReadFile(dump)
	if err != nil {
		t.Fatalf("git never ran: %v", err)
	}
	if strings.Contains(string(env), token) || strings.Contains(string(env), "GANTRY_E2E_TOKEN=") {
		t.Error("git inherited the token")
	}
}

func TestHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := Run(context.Background(), project.Project{}, []string{"--help"}, &stdout, &stderr, func(string) string { return "" }); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, flag := range []string{"--dry-run", "--registry", "--image", "--username", "--sha", "--severity", "--ignore-unfixed", "--report-dir", "--source", "--images", "--engine-timeout", "--allow-dirty", "--platform", "--skip-tests", "--rerun", "--run-cache"} {
		if !strings.Contains(stdout.String(), flag) {
			t.Errorf("--help does not show %s", flag)
		}
	}
}
