package attest

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/cosign/v2/pkg/cosign/attestation"
)

var update = flag.Bool("update", false, "rewrite golden files")

var run = Run{
	Builder:      "https://github.com/gantry-ci/gantry/.github/workflows/ci.yml@refs/heads/main",
	InvocationID: "https://github.com/gantry-ci/gantry/actions/runs/42/attempts/1",
	Repository:   "https://github.com/gantry-ci/gantry",
	Ref:          "refs/heads/main",
	SHA:          "0123456789abcdef0123456789abcdef01234567",
	Event:        "push",
	Image:        "ghcr.io/gantry-ci/gantry",
	Tags:         []string{"0123456789abcdef0123456789abcdef01234567", "latest"},
	Platforms:    []string{"linux/amd64", "linux/arm64"},
	Flags:        map[string]any{"severity": []string{"HIGH", "CRITICAL"}, "ignoreUnfixed": false},
	Images: map[string]string{
		"trivy": "aquasec/trivy:0.69.3@sha256:bcc376de8d77cfe086a917230e818dc9f8528e3c852f7b1aff648949b6258d1c",
		"go":    "golang:1.26.6@sha256:0d1d3a794be25f809dd2cb3160d8c73276c4056a9f8242a138e908ddeee7b6b6",
		"probe": "busybox@sha256:dc2d74b28e4cf8984fa52af1f39bc7c3d9c73760b41a74d629f5d11b1ab28616",
		"db":    "172.17.0.1:5000/testbed/postgres:15@sha256:9c63108afca75b0545031f4fba518bc810058c41aa2c9fc27dbfac25eea70df7",
	},
	TrivyDB:  DB{Repository: "mirror.gcr.io/aquasec/trivy-db:2", Digest: "sha256:" + strings.Repeat("ab", 32)},
	Versions: map[string]string{"dagger": "v0.19.10"},
	Started:  time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC),
	RunKey:   strings.Repeat("ef", 32),
	GoCaches: map[string]string{
		".":   "ghcr.io/gantry-ci/gantry@sha256:" + strings.Repeat("01", 32),
		"app": "ghcr.io/gantry-ci/gantry@sha256:" + strings.Repeat("02", 32),
	},
}

func golden(t *testing.T, file string, got []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, got, "", "  "); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, got)
	}
	path := filepath.Join("testdata", file)
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("%s differs:\n%s", path, buf.Bytes())
	}
}

func TestProvenance(t *testing.T) {
	p, err := Provenance(run, run.Started.Add(3*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "provenance.golden.json", p)
	// cosign's own generator must accept it as SLSA v1 (it checks the
	// required fields), since gantry-publish hands it over as is.
	if _, err := attestation.GenerateStatement(attestation.GenerateOpts{Predicate: bytes.NewReader(p),
		Type: "slsaprovenance1", Digest: strings.Repeat("cd", 32), Repo: run.Image}); err != nil {
		t.Errorf("cosign refuses the provenance: %v", err)
	}
}

func TestProvenanceRefusesAnUnpinnedImage(t *testing.T) {
	r := run
	r.Images = map[string]string{"go": "golang:1.26.6"}
	if _, err := Provenance(r, r.Started); err == nil || !strings.Contains(err.Error(), "not pinned") {
		t.Errorf("err = %v, want an unpinned image refused", err)
	}
}

func TestProvenanceRefusesUnpinnedGoCaches(t *testing.T) {
	r := run
	r.GoCaches = map[string]string{".": "ghcr.io/gantry-ci/gantry:buildcache-go"}
	if _, err := Provenance(r, r.Started); err == nil || !strings.Contains(err.Error(), "not pinned") {
		t.Errorf("err = %v, want Go caches named by tag refused", err)
	}
}

func TestProvenanceWithoutDBDigest(t *testing.T) {
	r := run
	r.TrivyDB.Digest = ""
	p, err := Provenance(r, r.Started)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(p), `"digest":"unknown:`) {
		t.Errorf("an unknown DB digest is not said so: %s", p)
	}
}

func TestVuln(t *testing.T) {
	s := Scan{
		Version: "0.69.3",
		DB:      run.TrivyDB,
		Reports: map[string]json.RawMessage{"linux/amd64": json.RawMessage(`{"SchemaVersion":2,"Results":[]}`)},
		Gate:    Gate{Severities: []string{"HIGH", "CRITICAL"}, Passed: true, Counts: map[string]int{"LOW": 2}},
		Started: run.Started.Add(time.Minute), Finished: run.Started.Add(90 * time.Second),
		DBUpdatedAt: time.Date(2026, 12, 3, 6, 0, 0, 0, time.FixedZone("CET", 3600)),
		Ignorefile:  &Ignorefile{Path: ".trivyignore", Digest: "sha256:" + strings.Repeat("12", 32), Suppressed: []string{"CVE-2021-38561"}},
	}
	p, err := Vuln(run, s)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "vuln.golden.json", p)
	s.Ignorefile = nil
	if p, err := Vuln(run, s); err != nil || strings.Contains(string(p), "ignorefile") {
		t.Errorf("a scan without an ignore file names one (%v): %s", err, p)
	}
	if _, err := attestation.GenerateStatement(attestation.GenerateOpts{Predicate: bytes.NewReader(p),
		Type: "vuln", Digest: strings.Repeat("cd", 32), Repo: run.Image}); err != nil {
		t.Errorf("cosign refuses the scan predicate: %v", err)
	}
}
