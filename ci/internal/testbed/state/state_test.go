package state

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-ci/gantry/ci/internal/images"
)

func sampleEnv() Env {
	return Env{
		CLIBin:        "/root/.cache/gantry-testbed/bin/dagger-v0.19.10-abc/dagger",
		RunnerHost:    "docker-container://gantry-testbed-dagger",
		Images:        "/root/.cache/gantry-testbed/state/images.json",
		Registry:      "172.17.0.1:5000",
		AuthRegistry:  "172.17.0.1:5001",
		AuthUsername:  "gantry",
		AuthPassword:  "it's $ecret",
		GoImage:       "172.17.0.1:5000/testbed/golang:1.26.8",
		RuntimeImage:  "172.17.0.1:5000/testbed/static:nonroot",
		PostgresImage: "172.17.0.1:5000/testbed/postgres:15",
	}
}

func TestRenderParse(t *testing.T) {
	e := sampleEnv()
	text := e.Render()
	wantNames := []string{"_EXPERIMENTAL_DAGGER_CLI_BIN", "_EXPERIMENTAL_DAGGER_RUNNER_HOST", "DO_NOT_TRACK",
		"GANTRY_IMAGES", "TESTBED_REGISTRY", "TESTBED_AUTH_REGISTRY", "TESTBED_AUTH_USERNAME",
		"TESTBED_AUTH_PASSWORD", "GO_IMAGE", "RUNTIME_IMAGE", "POSTGRES_IMAGE"}
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if len(lines) != len(wantNames) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(wantNames), text)
	}
	for i, n := range wantNames {
		if !strings.HasPrefix(lines[i], "export "+n+"=") {
			t.Errorf("line %d = %q, want export %s=…", i, lines[i], n)
		}
	}
	if !strings.Contains(text, `TESTBED_AUTH_PASSWORD='it'\''s $ecret'`) {
		t.Errorf("password not shell-quoted:\n%s", text)
	}
	if !strings.Contains(text, "export DO_NOT_TRACK=1\n") {
		t.Errorf("DO_NOT_TRACK missing:\n%s", text)
	}
	back, err := ParseEnv(text)
	if err != nil {
		t.Fatal(err)
	}
	if back != e {
		t.Errorf("round trip: got %+v, want %+v", back, e)
	}
}

func TestValidate(t *testing.T) {
	e := sampleEnv()
	e.GoImage = ""
	if err := e.Validate(); err == nil || !strings.Contains(err.Error(), "GO_IMAGE") {
		t.Errorf("Validate = %v, want an error naming GO_IMAGE", err)
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"plain/path:5000@sha256:ab": "plain/path:5000@sha256:ab",
		"":                          "''",
		"a b":                       "'a b'",
		"a'b":                       `'a'\''b'`,
	} {
		if got := ShellQuote(in); got != want {
			t.Errorf("ShellQuote(%q) = %q, want %q", in, got, want)
		}
	}
}

// The image set the bed writes must load with the pipeline's own loader.
func TestImageSetLoads(t *testing.T) {
	set := images.Set{
		Go:                 "172.17.0.1:5000/testbed/golang:1.26.8@sha256:" + strings.Repeat("a", 64),
		Runtime:            "172.17.0.1:5000/testbed/static:nonroot@sha256:" + strings.Repeat("b", 64),
		Postgres:           "172.17.0.1:5000/testbed/postgres:15@sha256:" + strings.Repeat("c", 64),
		Trivy:              "172.17.0.1:5000/testbed/trivy:0.69.3@sha256:" + strings.Repeat("d", 64),
		Probe:              "172.17.0.1:5000/testbed/busybox:1.35.0@sha256:" + strings.Repeat("e", 64),
		TrivyDBRepository:  "172.17.0.1:5000/testbed/trivy-db:2",
		InsecureRegistries: []string{"172.17.0.1:5001", "172.17.0.1:5000"},
	}
	d := Dir(t.TempDir())
	if err := d.WriteImages(set); err != nil {
		t.Fatal(err)
	}
	got, err := images.Load(d.ImagesFile())
	if err != nil {
		t.Fatal(err)
	}
	if got.Go != set.Go || got.TrivyDBRepository != set.TrivyDBRepository || !got.Insecure("172.17.0.1:5000/x") {
		t.Errorf("loaded %+v", got)
	}
	data, _ := os.ReadFile(d.ImagesFile())
	for _, field := range []string{`"go"`, `"runtime"`, `"postgres"`, `"trivy"`, `"probe"`, `"trivy_db_repository"`, `"insecure_registries"`} {
		if !strings.Contains(string(data), field) {
			t.Errorf("images.json lacks %s:\n%s", field, data)
		}
	}
	bad := set
	bad.Trivy = ""
	if err := d.WriteImages(bad); err == nil {
		t.Error("WriteImages accepted an empty trivy image")
	}
}

func TestPassword(t *testing.T) {
	d := Dir(filepath.Join(t.TempDir(), "state"))
	p1, err := d.Password()
	if err != nil {
		t.Fatal(err)
	}
	p2, err := d.Password()
	if err != nil {
		t.Fatal(err)
	}
	if p1 != p2 || len(p1) < 20 {
		t.Errorf("passwords %q, %q: want one stable random password", p1, p2)
	}
	fi, err := os.Stat(d.Path("auth-password"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("password file mode %v, err %v", fi.Mode(), err)
	}
}
