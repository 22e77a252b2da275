package scanreport

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestGate(t *testing.T) {
	tests := []struct {
		file       string
		gating     []string
		wantErr    bool
		passed     bool
		failingIDs []string
		counts     map[string]int
	}{
		{file: "findings.json", gating: []string{"HIGH", "CRITICAL"}, failingIDs: []string{"CVE-2024-45337", "CVE-2021-38561"}, counts: map[string]int{"CRITICAL": 1, "HIGH": 1, "MEDIUM": 1}},
		{file: "findings.json", gating: []string{"CRITICAL"}, failingIDs: []string{"CVE-2024-45337"}, counts: map[string]int{"CRITICAL": 1, "HIGH": 1, "MEDIUM": 1}},
		{file: "medium-only.json", gating: []string{"HIGH", "CRITICAL"}, passed: true, counts: map[string]int{"MEDIUM": 1, "UNKNOWN": 1}},
		{file: "medium-only.json", gating: []string{"MEDIUM", "HIGH", "CRITICAL"}, failingIDs: []string{"CVE-2023-3978"}, counts: map[string]int{"MEDIUM": 1, "UNKNOWN": 1}},
		{file: "clean.json", gating: []string{"HIGH", "CRITICAL"}, passed: true, counts: map[string]int{}},
		{file: "suppressed.json", gating: []string{"HIGH", "CRITICAL"}, failingIDs: []string{"CVE-2024-45337"}, counts: map[string]int{"CRITICAL": 1}},
		{file: "no-results.json", gating: []string{"HIGH", "CRITICAL"}, passed: true, counts: map[string]int{}},
		{file: "crash.txt", gating: []string{"HIGH"}, wantErr: true},
		{file: "old-schema.json", gating: []string{"HIGH"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.gating[0], func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			r, err := Parse(data)
			if tt.wantErr {
				if !errors.Is(err, ErrNotAReport) {
					t.Fatalf("err = %v, want ErrNotAReport", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			d := Gate(r, tt.gating)
			if d.Passed() != tt.passed {
				t.Errorf("passed = %v, want %v", d.Passed(), tt.passed)
			}
			var ids []string
			for _, f := range d.Failing {
				ids = append(ids, f.ID)
			}
			if len(ids) != len(tt.failingIDs) {
				t.Fatalf("failing = %v, want %v", ids, tt.failingIDs)
			}
			for i := range ids {
				if ids[i] != tt.failingIDs[i] {
					t.Errorf("failing[%d] = %s, want %s", i, ids[i], tt.failingIDs[i])
				}
			}
			for sev, n := range tt.counts {
				if d.Counts[sev] != n {
					t.Errorf("count[%s] = %d, want %d", sev, d.Counts[sev], n)
				}
			}
		})
	}
}

func TestParseEmpty(t *testing.T) {
	if _, err := Parse([]byte("  \n")); !errors.Is(err, ErrNotAReport) {
		t.Fatalf("err = %v, want ErrNotAReport", err)
	}
}

func TestTableGolden(t *testing.T) {
	data, err := os.ReadFile("testdata/findings.json")
	if err != nil {
		t.Fatal(err)
	}
	r, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	got := Table(r.Findings) + CountLine(Gate(r, nil).Counts) + "\n"
	// The advisory's address, where Trivy gives one, and none made up.
	if r.Findings[0].URL != "https://avd.aquasec.com/nvd/cve-2024-45337" || r.Findings[1].URL != "" {
		t.Errorf("advisory URLs %q, %q", r.Findings[0].URL, r.Findings[1].URL)
	}
	golden := "testdata/findings.table.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("table mismatch:\n%s\nwant:\n%s", got, want)
	}
}

func TestMergeDropsDuplicates(t *testing.T) {
	f := Finding{ID: "CVE-1", Package: "p", Severity: "HIGH", Target: "app"}
	g := Finding{ID: "CVE-2", Package: "p", Severity: "CRITICAL", Target: "app"}
	m := Merge(Report{Findings: []Finding{f}}, Report{Findings: []Finding{f, g}})
	if len(m.Findings) != 2 || m.Findings[0].ID != "CVE-2" {
		t.Fatalf("merge = %+v", m.Findings)
	}
}

// A report must show what the scan was to cover: a file (the entrypoint's
// binary), or the OS packages. An OS that Trivy recognised without its
// packages (no --list-all-pkgs, an unreadable database) proves nothing.
// os-packages.json is Trivy 0.69.3's report of the test bed's Node.js image
// (e2e hello-node), its package lists cut down to three packages.
func TestCoverage(t *testing.T) {
	file := func(path string) func(Report) error { return func(r Report) error { return r.Covers(path) } }
	osPackages := Report.CoversOSPackages
	for _, tt := range []struct {
		report, what string
		covers       func(Report) error
		want         string // "" = covered
	}{
		{"clean.json", "/app", file("/app"), ""},
		{"findings.json", "/app", file("/app"), ""},
		{"clean.json", "/usr/local/bin/other", file("/usr/local/bin/other"), "Trivy did not see /usr/local/bin/other"},
		{"no-results.json", "/app", file("/app"), "covers nothing"},
		{"os-packages.json", "OS packages", osPackages, ""},
		{"clean.json", "OS packages", osPackages, "Trivy read no OS packages in the image: its report covers app"},
		{"os-no-packages.json", "OS packages", osPackages, "Trivy read no OS packages"},
		{"no-results.json", "OS packages", osPackages, "covers nothing"},
	} {
		data, err := os.ReadFile(filepath.Join("testdata", tt.report))
		if err != nil {
			t.Fatal(err)
		}
		r, err := Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		err = tt.covers(r)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s, %s: err = %v, want %q", tt.report, tt.what, err, tt.want)
		}
	}
}

// What an ignore file suppressed is read from Trivy's report (with
// --show-suppressed), outside the gate, so the scan attestation can say
// what was not counted; other kinds of findings are not vulnerabilities.
func TestSuppressed(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "suppressed.json"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	want := []Suppressed{{ID: "CVE-2021-38561", Package: "golang.org/x/text", Target: "app", Status: "ignored", Source: "/work/.trivyignore"}}
	if !slices.Equal(r.Suppressed, want) {
		t.Errorf("suppressed = %+v, want %+v", r.Suppressed, want)
	}
	if want := "sha256:5e1f0f7a2c4b6d8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b8c0d2e4f6a8b0c2d4e"; r.ImageID != want {
		t.Errorf("ImageID = %q, want %q", r.ImageID, want)
	}
	m := Merge(r, r)
	if got := m.SuppressedIDs(); !slices.Equal(got, []string{"CVE-2021-38561"}) {
		t.Errorf("merged suppressed IDs = %v, want CVE-2021-38561 once", got)
	}
	plain, err := os.ReadFile(filepath.Join("testdata", "findings.json"))
	if err != nil {
		t.Fatal(err)
	}
	if r, err := Parse(plain); err != nil || len(r.Suppressed) != 0 {
		t.Errorf("findings.json: suppressed %v (%v), want none", r.Suppressed, err)
	}
}
