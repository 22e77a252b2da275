package state

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
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
		NodeImage:     "172.17.0.1:5000/testbed/node:18@sha256:0000000000000000000000000000000000000000000000000000000000000001",
		CosignBin:     "/root/.cache/gantry-testbed/bin/cosign-v2.6.1-abc/cosign",
		Cosign3Bin:    "/root/.cache/gantry-testbed/bin/cosign3-v3.0.3-abc/cosign",
		GHBin:         "/root/.cache/gantry-testbed/bin/gh-v2.83.0-abc/gh",
		PolicyTester:  "/root/.cache/gantry-testbed/bin/policy-tester-v0.13.0-abc/policy-tester",
		FulcioBin:     "/root/.cache/gantry-testbed/bin/fulcio-v1.8.1-abc/fulcio",
		EngineTCP:     "tcp://127.0.0.1:5030",
		RekorBin:      "/root/.cache/gantry-testbed/bin/rekor-v1.5.4-abc/rekor-server",
		TrillianDir:   "/root/.cache/gantry-testbed/bin/trillian-v1.7.3-abc",
	}
}

func TestRenderParse(t *testing.T) {
	e := sampleEnv()
	text := e.Render()
	wantNames := []string{"_EXPERIMENTAL_DAGGER_CLI_BIN", "_EXPERIMENTAL_DAGGER_RUNNER_HOST", "DO_NOT_TRACK",
		"GANTRY_IMAGES", "TESTBED_REGISTRY", "TESTBED_AUTH_REGISTRY", "TESTBED_AUTH_USERNAME",
		"TESTBED_AUTH_PASSWORD", "GO_IMAGE", "RUNTIME_IMAGE", "POSTGRES_IMAGE",
		"TESTBED_NODE_IMAGE", "TESTBED_COSIGN", "TESTBED_COSIGN3", "TESTBED_GH", "TESTBED_POLICY_TESTER", "TESTBED_FULCIO", "TESTBED_REKOR", "TESTBED_TRILLIAN", "TESTBED_ENGINE_TCP"}
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

func sampleImages() Images {
	return Images{
		Go:                 "172.17.0.1:5000/testbed/golang:1.26.8@sha256:aa",
		Runtime:            "172.17.0.1:5000/testbed/static:nonroot@sha256:bb",
		Postgres:           "172.17.0.1:5000/testbed/postgres:15@sha256:cc",
		Trivy:              "172.17.0.1:5000/testbed/trivy:0.69.3@sha256:dd",
		Probe:              "172.17.0.1:5000/testbed/busybox:1.35.0@sha256:ee",
		TrivyDBRepository:  "172.17.0.1:5000/testbed/trivy-db:2",
		InsecureRegistries: []string{"172.17.0.1:5001", "172.17.0.1:5000"},
	}
}

// images.json is the pipeline's documented --images format (docs/pipeline.md,
// "Pinned images"); the pipeline rejects fields it does not know, so the
// file's keys are fixed here, not derived from the struct.
func TestWriteImagesFormat(t *testing.T) {
	set := sampleImages()
	d := Dir(t.TempDir())
	if err := d.WriteImages(set); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(d.ImagesFile())
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "go": "172.17.0.1:5000/testbed/golang:1.26.8@sha256:aa",
  "runtime": "172.17.0.1:5000/testbed/static:nonroot@sha256:bb",
  "postgres": "172.17.0.1:5000/testbed/postgres:15@sha256:cc",
  "trivy": "172.17.0.1:5000/testbed/trivy:0.69.3@sha256:dd",
  "probe": "172.17.0.1:5000/testbed/busybox:1.35.0@sha256:ee",
  "trivy_db_repository": "172.17.0.1:5000/testbed/trivy-db:2",
  "insecure_registries": [
    "172.17.0.1:5000",
    "172.17.0.1:5001"
  ]
}
`
	if string(data) != want {
		t.Errorf("images.json:\n%s\nwant:\n%s", data, want)
	}
	if set.InsecureRegistries[0] != "172.17.0.1:5001" {
		t.Errorf("WriteImages sorted the caller's registries: %v", set.InsecureRegistries)
	}
	got, err := ReadImages(d.ImagesFile())
	if err != nil {
		t.Fatal(err)
	}
	set.InsecureRegistries = []string{"172.17.0.1:5000", "172.17.0.1:5001"}
	if !reflect.DeepEqual(got, set) {
		t.Errorf("read back %+v, want %+v", got, set)
	}
}

func TestImagesInvalid(t *testing.T) {
	tests := []struct {
		name    string
		file    string // images.json; empty: write sample with edit applied
		edit    func(*Images)
		wantErr string
	}{
		{name: "empty image", edit: func(s *Images) { s.Trivy = "" }, wantErr: `"trivy" is empty`},
		{name: "whitespace", edit: func(s *Images) { s.Go = "golang 1.26" }, wantErr: `"go"`},
		{name: "unknown field", file: `{"go":"g","runtime":"r","postgres":"p","trivy":"t","probe":"b","scanner":"x"}`, wantErr: `unknown field "scanner"`},
		{name: "image left out", file: `{"go":"g","runtime":"r","postgres":"p","trivy":"t"}`, wantErr: `"probe" is empty`},
		{name: "not JSON", file: `go: g`, wantErr: "parsing image set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Dir(t.TempDir())
			var err error
			if tt.file == "" {
				set := sampleImages()
				tt.edit(&set)
				if err = d.WriteImages(set); err == nil {
					t.Fatal("WriteImages accepted the set")
				}
			} else {
				if err := os.WriteFile(d.ImagesFile(), []byte(tt.file), 0o644); err != nil {
					t.Fatal(err)
				}
				_, err = ReadImages(d.ImagesFile())
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want one containing %s", err, tt.wantErr)
			}
		})
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
