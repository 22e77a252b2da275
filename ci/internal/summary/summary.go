// Package summary renders a run's outcome as Markdown (for the terminal and
// GitHub's job summary) and as GitHub step outputs.
package summary

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/gantry-ci/gantry/ci/internal/actions"
	"github.com/gantry-ci/gantry/ci/internal/imageref"
	"github.com/gantry-ci/gantry/ci/internal/scanreport"
)

// Stage is one stage's outcome.
type Stage struct {
	Name     string
	Status   string // passed, failed, skipped, cancelled, cached
	Detail   string
	Duration time.Duration
}

// Summary is everything the report shows.
type Summary struct {
	Image    string        // registry/name
	Stages   []Stage       // in pipeline order
	Wall     time.Duration // the whole run, start to end; zero for a cached run
	Scanned  bool
	Counts   map[string]int
	Findings []scanreport.Finding // most severe first
	Gating   []string
	Digest   string
	ImageID  string   // the config digest of an image, the digest of an index (build-push-action's imageid)
	Refs     []string // registry/name:tag@digest
	Signing  string   // "Signed …" or "Unsigned: why", for what was published
	Reports  []string
	// LayerCache says what the registry layer cache held ("" when off).
	LayerCache string
	// Version is the image's version (a release's, or the short SHA) and
	// Labels its OCI labels, also the index's annotations.
	Version string            `json:",omitempty"`
	Labels  map[string]string `json:",omitempty"`
	// PackageURL is the image's page (GHCR's), Verify the command that
	// checks what was published, Held why tags the run would have moved
	// stayed.
	PackageURL string   `json:",omitempty"`
	Verify     string   `json:",omitempty"`
	Held       []string `json:",omitempty"`
}

// Report is a run's JSON report (run.json, `--output json`): what a
// script reads of a run, passed or failed.
type Report struct {
	Image       string            `json:"image"`
	Passed      bool              `json:"passed"`
	ExitCode    int               `json:"exitCode"`
	Digest      string            `json:"digest,omitempty"`
	Version     string            `json:"version,omitempty"`
	Tags        []string          `json:"tags"` // full references, as published
	Stages      []StageReport     `json:"stages"`
	WallSeconds float64           `json:"wallSeconds,omitempty"`
	Scan        *ScanReport       `json:"scan,omitempty"`
	Signing     string            `json:"signing,omitempty"`
	Reports     []string          `json:"reports"`
	Labels      map[string]string `json:"labels,omitempty"`
	LayerCache  string            `json:"layerCache,omitempty"`
}

// StageReport is one stage in a Report.
type StageReport struct {
	Name    string  `json:"name"`
	Status  string  `json:"status"`
	Detail  string  `json:"detail,omitempty"`
	Seconds float64 `json:"seconds"`
}

// ScanReport is the scan's verdict in a Report.
type ScanReport struct {
	Gate     []string             `json:"gate"`
	Counts   map[string]int       `json:"counts"`
	Findings []scanreport.Finding `json:"findings"`
}

// Tags are the full references published (registry/name:tag), from Refs.
func (s Summary) Tags() []string {
	var tags []string
	for _, r := range s.Refs {
		if tagged, _, ok := imageref.Split(r); ok {
			tags = append(tags, tagged)
		}
	}
	return tags
}

// JSON is s as a run report, for a run that exited with code.
func JSON(s Summary, code int) Report {
	r := Report{Image: s.Image, Passed: code == 0, ExitCode: code, Digest: s.Digest, Version: s.Version,
		Tags: []string{}, Stages: []StageReport{}, WallSeconds: s.Wall.Seconds(), Signing: s.Signing,
		Reports: append([]string{}, s.Reports...), Labels: s.Labels, LayerCache: s.LayerCache}
	r.Tags = append(r.Tags, s.Tags()...)
	for _, st := range s.Stages {
		r.Stages = append(r.Stages, StageReport{Name: st.Name, Status: st.Status, Detail: st.Detail, Seconds: st.Duration.Seconds()})
	}
	if s.Scanned {
		r.Scan = &ScanReport{Gate: s.Gating, Counts: s.Counts, Findings: append([]scanreport.Finding{}, s.Findings...)}
	}
	return r
}

// maxFindings bounds the findings table; the full list is in the reports.
const maxFindings = 10

// Markdown renders s.
func Markdown(s Summary) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Gantry: %s\n\n", s.Image)
	b.WriteString("| Stage | Status | Duration | Detail |\n|---|---|---|---|\n")
	for _, st := range s.Stages {
		d := "-"
		if st.Status != "skipped" && (st.Status != "cancelled" || st.Duration > 0) {
			d = st.Duration.Round(100 * time.Millisecond).String()
		}
		fmt.Fprintf(&b, "| %s | %s %s | %s | %s |\n", st.Name, icon(st.Status), st.Status, d, cell(st.Detail))
	}
	if s.Wall > 0 {
		// Stages overlap, so their durations don't add up to this.
		fmt.Fprintf(&b, "\nWall time: %s\n", s.Wall.Round(100*time.Millisecond))
	}
	if s.Scanned {
		fmt.Fprintf(&b, "\n### Vulnerabilities\n\n%s (gate: %s)\n", scanreport.CountLine(s.Counts), strings.Join(s.Gating, ","))
		if len(s.Findings) > 0 {
			b.WriteString("\n| Severity | ID | Package | Installed | Fixed |\n|---|---|---|---|---|\n")
			for i, f := range s.Findings {
				if i == maxFindings {
					fmt.Fprintf(&b, "\n%d more in the reports.\n", len(s.Findings)-maxFindings)
					break
				}
				fixed := f.Fixed
				if fixed == "" {
					fixed = "-"
				}
				id := cell(f.ID)
				if strings.HasPrefix(f.URL, "https://") {
					id = fmt.Sprintf("[%s](%s)", id, f.URL)
				}
				fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", f.Severity, id, cell(f.Package), cell(f.Installed), cell(fixed))
			}
		}
	}
	if s.Digest != "" {
		fmt.Fprintf(&b, "\n### Published\n\nDigest `%s`\n\n", s.Digest)
		if s.Signing != "" {
			fmt.Fprintf(&b, "%s\n\n", s.Signing)
		}
		for _, r := range s.Refs {
			fmt.Fprintf(&b, "- `%s`\n", r)
		}
		for _, h := range s.Held {
			fmt.Fprintf(&b, "- held: %s\n", h)
		}
		if s.PackageURL != "" {
			fmt.Fprintf(&b, "\nPackage: %s\n", s.PackageURL)
		}
		if s.Verify != "" {
			fmt.Fprintf(&b, "\nVerify it:\n\n```\n%s\n```\n", s.Verify)
		}
	}
	if s.LayerCache != "" {
		fmt.Fprintf(&b, "\n### Layer cache\n\n%s\n", s.LayerCache)
	}
	if len(s.Reports) > 0 {
		b.WriteString("\n### Reports\n\n")
		for _, r := range s.Reports {
			fmt.Fprintf(&b, "- `%s`\n", r)
		}
	}
	return b.String()
}

// Outputs are the step outputs of a run that published, in the shapes of
// docker/metadata-action and build-push-action, so a later job reads them
// as it would theirs: digest; image; version; tags, full references one
// per line; labels, name=value one per line; annotations, index:name=value
// one per line (Gantry sets the labels on the index too); json, {"tags",
// "labels", "annotations"}.
func Outputs(s Summary) []actions.Output {
	tags, labels, annotations := append([]string{}, s.Tags()...), []string{}, []string{}
	for _, k := range slices.Sorted(maps.Keys(s.Labels)) {
		labels = append(labels, k+"="+s.Labels[k])
		annotations = append(annotations, "index:"+k+"="+s.Labels[k])
	}
	lbls := s.Labels
	if lbls == nil {
		lbls = map[string]string{}
	}
	js, _ := json.Marshal(struct {
		Tags        []string          `json:"tags"`
		Labels      map[string]string `json:"labels"`
		Annotations []string          `json:"annotations"`
	}{tags, lbls, annotations})
	return []actions.Output{
		{Name: "digest", Value: s.Digest},
		{Name: "imageid", Value: s.ImageID},
		{Name: "image", Value: s.Image},
		{Name: "version", Value: s.Version},
		{Name: "tags", Value: strings.Join(tags, "\n")},
		{Name: "labels", Value: strings.Join(labels, "\n")},
		{Name: "annotations", Value: strings.Join(annotations, "\n")},
		{Name: "json", Value: string(js)},
	}
}

func icon(status string) string {
	switch status {
	case "passed":
		return "✅"
	case "failed":
		return "❌"
	case "cached":
		return "♻️"
	case "cancelled":
		return "⛔"
	}
	return "⏭️"
}

// cell keeps a value from breaking the table.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}
