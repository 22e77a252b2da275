package summary

import (
	"encoding/json"
	"flag"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/ci/internal/scanreport"
)

var update = flag.Bool("update", false, "rewrite golden files")

func sample() Summary {
	return Summary{
		Image: "ghcr.io/owner/app",
		Stages: []Stage{
			{Name: "test", Status: "cached", Detail: "passed 2026-11-22T07:17:59Z", Duration: 31 * time.Second},
			{Name: "build", Status: "passed", Duration: 12*time.Second + 340*time.Millisecond},
			{Name: "smoke", Status: "passed", Duration: 8 * time.Second},
			{Name: "scan", Status: "passed", Duration: 5 * time.Second},
			{Name: "publish", Status: "skipped", Detail: "--dry-run"},
		},
		Wall:     44*time.Second + 510*time.Millisecond,
		Scanned:  true,
		Gating:   []string{"HIGH", "CRITICAL"},
		Counts:   map[string]int{"MEDIUM": 1},
		Findings: []scanreport.Finding{{ID: "CVE-2023-3978", Package: "golang.org/x/net", Installed: "v0.12.0", Fixed: "0.13.0", Severity: "MEDIUM"}},
		Digest:   "sha256:abc",
		Refs:     []string{"ghcr.io/owner/app:0123@sha256:abc", "ghcr.io/owner/app:latest@sha256:abc"},
		Signing:  "Signed with key `sha256:0f1e`: the index and its 2 platform manifests. Attested: SLSA provenance v1.",
		Reports:  []string{"reports/trivy-linux-amd64.json"},
	}
}

func TestMarkdownGolden(t *testing.T) {
	got := Markdown(sample())
	const golden = "testdata/summary.md.golden"
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestMarkdownCapsFindings(t *testing.T) {
	s := sample()
	s.Findings = nil
	for i := 0; i < 13; i++ {
		s.Findings = append(s.Findings, scanreport.Finding{ID: "CVE-X", Severity: "LOW"})
	}
	if got := Markdown(s); !strings.Contains(got, "3 more in the reports") || strings.Count(got, "| LOW |") != maxFindings {
		t.Errorf("findings not capped at %d:\n%s", maxFindings, got)
	}
}

// The outputs have metadata-action's shapes: full references one per
// line, name=value lines, index annotations, and the same as JSON.
func TestOutputs(t *testing.T) {
	const d = "sha256:9c63108afca75b0545031f4fba518bc810058c41aa2c9fc27dbfac25eea70df7"
	const config = "sha256:1f5c1e3a8c1b1b57e50d5c7f1a0b0c4c0e1f0d1e2f3a4b5c6d7e8f9a0b1c2d3e"
	s := Summary{Image: "localhost:5000/app", Digest: d, ImageID: config, Version: "1.4.2",
		Refs:   []string{"localhost:5000/app:0123@" + d, "localhost:5000/app:1.4.2@" + d, "localhost:5000/app:latest@" + d},
		Labels: map[string]string{"org.opencontainers.image.version": "1.4.2", "org.opencontainers.image.licenses": "MIT"}}
	got := map[string]string{}
	for _, o := range Outputs(s) {
		got[o.Name] = o.Value
	}
	want := map[string]string{
		"digest":      d,
		"imageid":     config,
		"image":       "localhost:5000/app",
		"version":     "1.4.2",
		"tags":        "localhost:5000/app:0123\nlocalhost:5000/app:1.4.2\nlocalhost:5000/app:latest",
		"labels":      "org.opencontainers.image.licenses=MIT\norg.opencontainers.image.version=1.4.2",
		"annotations": "index:org.opencontainers.image.licenses=MIT\nindex:org.opencontainers.image.version=1.4.2",
		"json":        `{"tags":["localhost:5000/app:0123","localhost:5000/app:1.4.2","localhost:5000/app:latest"],"labels":{"org.opencontainers.image.licenses":"MIT","org.opencontainers.image.version":"1.4.2"},"annotations":["index:org.opencontainers.image.licenses=MIT","index:org.opencontainers.image.version=1.4.2"]}`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("outputs:\n%q\nwant\n%q", got, want)
	}
}

// The JSON report says what the Markdown says, for a script: the verdict
// and exit code, every stage, the published tags in full, the findings.
func TestJSON(t *testing.T) {
	const d = "sha256:9c63108afca75b0545031f4fba518bc810058c41aa2c9fc27dbfac25eea70df7"
	s := sample()
	s.Digest, s.Refs, s.Version = d, []string{"ghcr.io/owner/app:1.4.2@" + d}, "1.4.2"
	r := JSON(s, 6)
	if r.Passed || r.ExitCode != 6 || r.Digest != d || len(r.Tags) != 1 || r.Tags[0] != "ghcr.io/owner/app:1.4.2" || r.Version != "1.4.2" {
		t.Errorf("report %+v", r)
	}
	if len(r.Stages) != len(s.Stages) || r.Stages[0].Name != s.Stages[0].Name || r.Stages[0].Seconds != s.Stages[0].Duration.Seconds() {
		t.Errorf("stages %+v, want %+v", r.Stages, s.Stages)
	}
	if s.Scanned && (r.Scan == nil || len(r.Scan.Findings) != len(s.Findings)) {
		t.Errorf("scan %+v, want the summary's %d findings", r.Scan, len(s.Findings))
	}
	data, err := json.Marshal(JSON(Summary{Image: "x"}, 0))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"image":"x","passed":true,"exitCode":0,"tags":[],"stages":[],"reports":[]}`; string(data) != want {
		t.Errorf("an empty run's report %s, want %s", data, want)
	}
}

// Links a user clicks: the advisory of each finding that has one, the
// package page; the command that verifies the digest; why a tag stayed.
func TestMarkdownLinks(t *testing.T) {
	s := sample()
	s.Findings = []scanreport.Finding{{ID: "CVE-2024-45337", Package: "golang.org/x/crypto", Severity: "CRITICAL", URL: "https://avd.aquasec.com/nvd/cve-2024-45337"},
		{ID: "GHSA-x", Package: "p", Severity: "HIGH", URL: "javascript:alert(1)"}}
	s.Digest, s.Refs = "sha256:d", []string{"ghcr.io/owner/app:1.4.1@sha256:d"}
	s.PackageURL = "https://github.com/owner/app/pkgs/container/app"
	s.Verify = "gantry-verify --repository owner/app ghcr.io/owner/app@sha256:d"
	s.Held = []string{"latest stays on 1.5.0: it is higher than 1.4.1"}
	md := Markdown(s)
	for _, want := range []string{
		"| CRITICAL | [CVE-2024-45337](https://avd.aquasec.com/nvd/cve-2024-45337) |",
		"| HIGH | GHSA-x |",
		"Package: https://github.com/owner/app/pkgs/container/app",
		"```\ngantry-verify --repository owner/app ghcr.io/owner/app@sha256:d\n```",
		"- held: latest stays on 1.5.0: it is higher than 1.4.1",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the summary lacks %q:\n%s", want, md)
		}
	}
}
