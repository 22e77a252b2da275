// Package scanreport reads Trivy's JSON report and decides the scan gate.
// The gate comes from the report, never from Trivy's exit code alone, so a
// crashed scanner can't pass for "vulnerabilities found" or for "clean".
package scanreport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
)

// Severities in ascending order.
var Severities = []string{"UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"}

// Finding is one vulnerability in one package of one target.
type Finding struct {
	ID        string `json:"id"`
	Package   string `json:"package"`
	Installed string `json:"installed"`
	Fixed     string `json:"fixed"`
	Severity  string `json:"severity"`
	Target    string `json:"target"`
	Title     string `json:"title"`
	URL       string `json:"url,omitempty"` // the advisory (Trivy's PrimaryURL)
}

// Report is the part of Trivy's JSON report Gantry uses.
type Report struct {
	SchemaVersion int
	ArtifactName  string
	// ImageID is the scanned image's config digest and DiffIDs its
	// layers' (Trivy's Metadata): they tie the report to one platform's
	// image.
	ImageID  string
	DiffIDs  []string
	Findings []Finding
	// Suppressed are the vulnerabilities an ignore file took out of
	// Findings (Trivy reports them with --show-suppressed).
	Suppressed []Suppressed
	Targets    []string // what Trivy recognised and scanned: OS, binaries
	// OSPackages is how many packages Trivy read from the image's OS
	// package database (dpkg, apk, rpm; with --list-all-pkgs).
	OSPackages int
}

// Suppressed is a vulnerability that an ignore file (or a VEX document)
// took out of the report's findings.
type Suppressed struct {
	ID      string
	Package string
	Target  string
	Status  string // Trivy's: "ignored" for an ignore file
	Source  string // the file or document that suppressed it
}

// Covers checks that Trivy scanned the file at path (absolute, in the
// image). A report without it has no findings for it either, which would
// pass for clean: the scan must not.
func (r Report) Covers(path string) error {
	want := strings.TrimPrefix(path, "/")
	if slices.Contains(r.Targets, want) {
		return nil
	}
	saw := "nothing"
	if len(r.Targets) > 0 {
		saw = strings.Join(r.Targets, ", ")
	}
	return fmt.Errorf("Trivy did not see %s: its report covers %s, so a clean result would prove nothing", path, saw)
}

// CoversOSPackages checks that Trivy read packages from the image's OS
// package database: an image with no OS (distroless static), or one whose
// database Trivy can't read, has no findings for its OS either.
func (r Report) CoversOSPackages() error {
	if r.OSPackages > 0 {
		return nil
	}
	saw := "nothing"
	if len(r.Targets) > 0 {
		saw = strings.Join(r.Targets, ", ")
	}
	return fmt.Errorf("Trivy read no OS packages in the image: its report covers %s, so a clean result would prove nothing about the OS", saw)
}

type trivyReport struct {
	SchemaVersion int    `json:"SchemaVersion"`
	ArtifactName  string `json:"ArtifactName"`
	Metadata      struct {
		ImageID string   `json:"ImageID"`
		DiffIDs []string `json:"DiffIDs"`
	} `json:"Metadata"`
	Results []struct {
		Target          string            `json:"Target"`
		Class           string            `json:"Class"`
		Packages        []json.RawMessage `json:"Packages"`
		Vulnerabilities []struct {
			VulnerabilityID  string `json:"VulnerabilityID"`
			PkgName          string `json:"PkgName"`
			InstalledVersion string `json:"InstalledVersion"`
			FixedVersion     string `json:"FixedVersion"`
			Severity         string `json:"Severity"`
			Title            string `json:"Title"`
			PrimaryURL       string `json:"PrimaryURL"`
		} `json:"Vulnerabilities"`
		ModifiedFindings []struct {
			Type    string `json:"Type"`
			Status  string `json:"Status"`
			Source  string `json:"Source"`
			Finding struct {
				VulnerabilityID string `json:"VulnerabilityID"`
				PkgName         string `json:"PkgName"`
			} `json:"Finding"`
		} `json:"ExperimentalModifiedFindings"`
	} `json:"Results"`
}

// ErrNotAReport means the bytes are not a Trivy JSON report (empty output,
// a crash message, another format).
var ErrNotAReport = errors.New("not a Trivy JSON report")

// Parse reads a Trivy JSON report (schema version 2).
func Parse(data []byte) (Report, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return Report{}, fmt.Errorf("%w: empty output", ErrNotAReport)
	}
	var tr trivyReport
	if err := json.Unmarshal(data, &tr); err != nil {
		return Report{}, fmt.Errorf("%w: %v", ErrNotAReport, err)
	}
	if tr.SchemaVersion != 2 {
		return Report{}, fmt.Errorf("%w: schema version %d, want 2", ErrNotAReport, tr.SchemaVersion)
	}
	r := Report{SchemaVersion: tr.SchemaVersion, ArtifactName: tr.ArtifactName, ImageID: tr.Metadata.ImageID, DiffIDs: tr.Metadata.DiffIDs}
	for _, res := range tr.Results {
		r.Targets = append(r.Targets, res.Target)
		if res.Class == "os-pkgs" {
			r.OSPackages += len(res.Packages)
		}
		for _, v := range res.Vulnerabilities {
			sev := strings.ToUpper(v.Severity)
			if !slices.Contains(Severities, sev) {
				sev = "UNKNOWN"
			}
			r.Findings = append(r.Findings, Finding{
				ID: v.VulnerabilityID, Package: v.PkgName, Installed: v.InstalledVersion,
				Fixed: v.FixedVersion, Severity: sev, Target: res.Target, Title: v.Title, URL: v.PrimaryURL,
			})
		}
		for _, m := range res.ModifiedFindings {
			if m.Type != "vulnerability" {
				continue
			}
			r.Suppressed = append(r.Suppressed, Suppressed{ID: m.Finding.VulnerabilityID, Package: m.Finding.PkgName,
				Target: res.Target, Status: m.Status, Source: m.Source})
		}
	}
	sortFindings(r.Findings)
	return r, nil
}

// SuppressedIDs are the IDs of the suppressed vulnerabilities, sorted,
// each once.
func (r Report) SuppressedIDs() []string {
	var ids []string
	for _, s := range r.Suppressed {
		ids = append(ids, s.ID)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// Decision is the gate's verdict.
type Decision struct {
	Failing []Finding      // findings at a gating severity, most severe first
	Counts  map[string]int // findings per severity, gating or not
}

// Passed reports whether no finding is at a gating severity.
func (d Decision) Passed() bool { return len(d.Failing) == 0 }

// Gate returns the findings whose severity is one of gating.
func Gate(r Report, gating []string) Decision {
	d := Decision{Counts: map[string]int{}}
	for _, f := range r.Findings {
		d.Counts[f.Severity]++
		if slices.Contains(gating, f.Severity) {
			d.Failing = append(d.Failing, f)
		}
	}
	return d
}

// Merge combines reports (one per platform), dropping findings repeated
// across them.
func Merge(reports ...Report) Report {
	var out Report
	seen := map[Finding]bool{}
	seenSup := map[Suppressed]bool{}
	for _, r := range reports {
		out.SchemaVersion = r.SchemaVersion
		for _, f := range r.Findings {
			if !seen[f] {
				seen[f] = true
				out.Findings = append(out.Findings, f)
			}
		}
		for _, s := range r.Suppressed {
			if !seenSup[s] {
				seenSup[s] = true
				out.Suppressed = append(out.Suppressed, s)
			}
		}
	}
	sortFindings(out.Findings)
	return out
}

// Table renders findings as an aligned text table.
func Table(findings []Finding) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "SEVERITY\tID\tPACKAGE\tINSTALLED\tFIXED")
	for _, f := range findings {
		fixed := f.Fixed
		if fixed == "" {
			fixed = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", f.Severity, f.ID, f.Package, f.Installed, fixed)
	}
	w.Flush()
	return b.String()
}

// CountLine summarises counts, most severe first: "CRITICAL 1, HIGH 2, ...".
func CountLine(counts map[string]int) string {
	var parts []string
	for i := len(Severities) - 1; i >= 0; i-- {
		parts = append(parts, fmt.Sprintf("%s %d", Severities[i], counts[Severities[i]]))
	}
	return strings.Join(parts, ", ")
}

func rank(sev string) int { return slices.Index(Severities, sev) }

func sortFindings(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		if d := rank(b.Severity) - rank(a.Severity); d != 0 {
			return d
		}
		if c := strings.Compare(a.ID, b.ID); c != 0 {
			return c
		}
		return strings.Compare(a.Package, b.Package)
	})
}
