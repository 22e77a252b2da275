package images

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

func TestPinnedAreDigestPinned(t *testing.T) {
	for field, ref := range map[string]string{"go": Pinned.Go, "runtime": Pinned.Runtime, "postgres": Pinned.Postgres, "trivy": Pinned.Trivy, "probe": Pinned.Probe} {
		if _, err := name.NewDigest(ref); err != nil {
			t.Errorf("%s = %q is not pinned by digest: %v", field, ref, err)
		}
	}
	if !strings.HasPrefix(Pinned.Trivy, "aquasec/trivy:0.69.3@") {
		t.Errorf("trivy pin moved off 0.69.3 (0.69.4-0.69.6 were malicious): %s", Pinned.Trivy)
	}
}

func TestLoad(t *testing.T) {
	const digest = "sha256:9c63108afca75b0545031f4fba518bc810058c41aa2c9fc27dbfac25eea70df7"
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		path    string
		check   func(Set) bool
		wantErr string
	}{
		{name: "no file: pins", path: "", check: func(s Set) bool { return s.Go == Pinned.Go && s.Trivy == Pinned.Trivy && s.TrivyDBRepository == "" }},
		{name: "partial override", path: write("partial.json", `{"postgres": "reg:5000/testbed/postgres:15@`+digest+`", "insecure_registries": ["reg:5000"]}`),
			check: func(s Set) bool {
				return s.Postgres == "reg:5000/testbed/postgres:15@"+digest && s.Go == Pinned.Go && s.Insecure("reg:5000/testbed/x") && !s.Insecure("ghcr.io/x")
			}},
		{name: "tag only", path: write("tag.json", `{"trivy": "aquasec/trivy:latest"}`), wantErr: `"trivy": "aquasec/trivy:latest" is not pinned by digest`},
		{name: "digest only", path: write("digest-only.json", `{"probe": "busybox@`+digest+`"}`), check: func(s Set) bool { return s.Probe == "busybox@"+digest }},
		{name: "unknown field", path: write("typo.json", `{"postgress": "x"}`), wantErr: "unknown field"},
		{name: "not json", path: write("bad.json", `go: x`), wantErr: "parsing image set"},
		{name: "whitespace in ref", path: write("ws.json", `{"go": "golang 1.26"}`), wantErr: "not an image reference"},
		{name: "upper case repository", path: write("uc.json", `{"probe": "BusyBox:1.37"}`), wantErr: "not an image reference"},
		{name: "truncated digest", path: write("digest.json", `{"trivy": "aquasec/trivy@sha256:bcc376de"}`), wantErr: "not an image reference"},
		{name: "a project image", path: write("project.json", `{"project": {"NODE_IMAGE": "reg:5000/testbed/node:18@`+digest+`"}}`),
			check: func(s Set) bool {
				return s.Project["NODE_IMAGE"] == "reg:5000/testbed/node:18@"+digest && s.Go == Pinned.Go
			}},
		{name: "a project image by tag", path: write("project-tag.json", `{"project": {"NODE_IMAGE": "reg:5000/testbed/node:18"}}`), wantErr: `"project.NODE_IMAGE": "reg:5000/testbed/node:18" is not pinned by digest`},
		{name: "missing file", path: filepath.Join(dir, "nope.json"), wantErr: "reading image set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Load(tt.path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(s) {
				t.Errorf("unexpected set %+v", s)
			}
		})
	}
}

// The image set replaces a project's images by name, and only those the
// project declares.
func TestForProject(t *testing.T) {
	const (
		declared = "node:22@sha256:0000000000000000000000000000000000000000000000000000000000000001"
		standIn  = "reg:5000/testbed/node:18@sha256:0000000000000000000000000000000000000000000000000000000000000002"
	)
	decl := map[string]string{"NODE_IMAGE": declared, "REDIS_IMAGE": "redis@sha256:0000000000000000000000000000000000000000000000000000000000000003"}
	got, err := Set{Project: map[string]string{"NODE_IMAGE": standIn}}.ForProject(decl)
	if err != nil {
		t.Fatal(err)
	}
	if got["NODE_IMAGE"] != standIn || got["REDIS_IMAGE"] != decl["REDIS_IMAGE"] || decl["NODE_IMAGE"] != declared {
		t.Errorf("ForProject = %v (declared now %v)", got, decl)
	}
	if _, err := (Set{Project: map[string]string{"NODEJS_IMAGE": standIn}}).ForProject(decl); err == nil ||
		!strings.Contains(err.Error(), "replaces NODEJS_IMAGE, which the project does not declare (gantry.Images has NODE_IMAGE, REDIS_IMAGE)") {
		t.Errorf("a misspelt replacement: %v", err)
	}
	if _, err := (Set{Project: map[string]string{"NODE_IMAGE": standIn}}).ForProject(nil); err == nil || !strings.Contains(err.Error(), "gantry.Images has none") {
		t.Errorf("a replacement for a project without images: %v", err)
	}
}
