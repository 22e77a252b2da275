package upload

import (
	"github.com/gantry-ci/gantry/ci/internal/testrepo"
	"path/filepath"
	"testing"
)

// What a run uploads, and so what its run-cache key covers: each module of
// --test-modules without the modules nested in it, plus the root files the
// tests check, for the test stage; the .dockerignore'd context for the
// build; never a report dir inside the source or an env file.
func TestUploads(t *testing.T) {
	// As this repository's: only the service's sources and module files.
	const dockerignore = "*\n!go.mod\n!go.sum\n!app/\n**/*_test.go\n"
	tree := map[string]string{
		"go.mod": "module x", "Dockerfile": "FROM scratch", ".dockerignore": dockerignore,
		"app/main.go": "package main", "ci/go.mod": "module ci", "ci/main.go": "package main", "internal/testenv/testenv.go": "package testenv",
		"testbed/go.mod": "module bed", "docs/testbed.md": "#", "README.md": "#",
	}
	service, both := []string{"."}, []string{".", "ci"}
	tests := []struct {
		name, reportDir, change string
		modules                 []string
		test, context           bool // whether each digest changes
	}{
		{"the service", "reports", "app/main.go", service, true, true},
		{"a service test", "reports", "app/main_test.go", service, true, false},
		{"the pipeline, not tested", "reports", "ci/internal/x/x.go", service, false, false},
		{"the pipeline, tested", "reports", "ci/internal/x/x.go", both, true, false},
		{"the root module's internal packages", "reports", "internal/testenv/testenv.go", service, true, false},
		{"the test bed, a module never tested", "reports", "testbed/internal/bed/bed.go", both, false, false},
		{"the docs, in the root module", "reports", "README.md", service, true, false},
		{"the docs, for the pipeline alone", "reports", "README.md", []string{"ci"}, false, false},
		{"the Dockerfile", "reports", "Dockerfile", service, true, true},
		{"the Dockerfile, for the pipeline alone", "reports", "Dockerfile", []string{"ci"}, true, true},
		{"compose.yaml", "reports", "compose.yaml", service, true, false},
		{"a report dir inside an uploaded module", "ci/reports", "ci/reports/trivy-linux-amd64.json", both, false, false},
		{"a report dir outside the source", "/elsewhere", "ci/reports/x.json", both, true, false},
		{"an env file in the service", "reports", "app/.env", service, false, false},
		{"an env file variant", "reports", "ci/.env.local", both, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := t.TempDir()
			for p, body := range tree {
				testrepo.Write(t, src, p, body)
			}
			reports := tt.reportDir
			if !filepath.IsAbs(reports) {
				reports = filepath.Join(src, reports)
			}
			u, err := New(Input{Source: src, ReportDir: reports, TestModules: tt.modules, Dockerfile: "Dockerfile"})
			if err != nil {
				t.Fatal(err)
			}
			digests := func() (string, string) {
				a, err1 := u.TestDigest(src)
				b, err2 := u.Context.Digest(src)
				if err1 != nil || err2 != nil {
					t.Fatal(err1, err2)
				}
				return a, b
			}
			test0, ctx0 := digests()
			testrepo.Write(t, src, tt.change, "changed")
			test1, ctx1 := digests()
			if (test0 != test1) != tt.test {
				t.Errorf("test upload changed = %v, want %v", test0 != test1, tt.test)
			}
			if (ctx0 != ctx1) != tt.context {
				t.Errorf("build context changed = %v, want %v", ctx0 != ctx1, tt.context)
			}
		})
	}
}

// Test commands see the whole repository, less git's files, env files and
// the run's reports: a change anywhere else reruns them.
func TestRepoForCommands(t *testing.T) {
	src := t.TempDir()
	for p, body := range map[string]string{"package.json": "{}", "server.js": "//", ".git/HEAD": "ref", ".env": "SECRET=x", "reports/r.json": "{}", ".dockerignore": "reports\n"} {
		testrepo.Write(t, src, p, body)
	}
	plain, err := New(Input{Source: src, ReportDir: filepath.Join(src, "reports"), Dockerfile: "Dockerfile"})
	if err != nil {
		t.Fatal(err)
	}
	if plain.Repo != nil {
		t.Fatal("a run without test commands uploads the repository")
	}
	u, err := New(Input{Source: src, ReportDir: filepath.Join(src, "reports"), Dockerfile: "Dockerfile", WithRepo: true})
	if err != nil || u.Repo == nil {
		t.Fatalf("New: %v, repo %v", err, u.Repo)
	}
	for _, tt := range []struct {
		change string
		counts bool
	}{{"server.js", true}, {"test/new.test.js", true}, {".git/HEAD", false}, {".env", false}, {"reports/r.json", false}} {
		before, err := u.TestDigest(src)
		if err != nil {
			t.Fatal(err)
		}
		testrepo.Write(t, src, tt.change, "changed "+tt.change)
		after, _ := u.TestDigest(src)
		if (before != after) != tt.counts {
			t.Errorf("changing %s: test digest changed = %v, want %v", tt.change, before != after, tt.counts)
		}
	}
}
