package pipeline

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/ci/internal/scanreport"
)

func TestPinnedDB(t *testing.T) {
	const d = "sha256:0123"
	for repo, want := range map[string]string{
		"mirror.gcr.io/aquasec/trivy-db:2":         "mirror.gcr.io/aquasec/trivy-db@sha256:0123",
		"172.17.0.1:5000/testbed/trivy-db:2":       "172.17.0.1:5000/testbed/trivy-db@sha256:0123",
		"172.17.0.1:5000/testbed/trivy-db":         "172.17.0.1:5000/testbed/trivy-db@sha256:0123",
		"ghcr.io/aquasecurity/trivy-db":            "ghcr.io/aquasecurity/trivy-db@sha256:0123",
		"localhost:5000/trivy-db:2025-01-01T00-00": "localhost:5000/trivy-db@sha256:0123",
	} {
		if got := pinnedDB(repo, d); got != want {
			t.Errorf("pinnedDB(%q) = %q, want %q", repo, got, want)
		}
	}
}

// A DB older than --max-db-age fails the scan with a line that says how old
// it is (issue 21, item 3: a stale DB passed every image).
func TestDBFresh(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name    string
		updated time.Time
		max     time.Duration
		want    string // "" passes; else a part of the error
	}{
		{name: "updated this morning", updated: now.Add(-6 * time.Hour), max: 72 * time.Hour},
		{name: "exactly the limit", updated: now.Add(-72 * time.Hour), max: 72 * time.Hour},
		{name: "an hour over", updated: now.Add(-73 * time.Hour), max: 72 * time.Hour, want: "3d1h ago, more than --max-db-age 72h0m0s"},
		{name: "two years old", updated: time.Date(2024, 12, 11, 0, 0, 0, 0, time.UTC), max: 72 * time.Hour, want: "updated 2024-12-11T00:00:00Z, 723d12h ago"},
		{name: "no limit", updated: now.AddDate(-2, 0, 0), max: 0},
		{name: "from the future", updated: now.Add(time.Hour), max: time.Hour},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := dbFresh(tt.updated, now, tt.max)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("err = %v, want none", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// What a project declares the scan must cover is checked against the
// report, and a miss names the declaration.
func TestCovered(t *testing.T) {
	goBinary := scanreport.Report{Targets: []string{"app"}}
	debian := scanreport.Report{Targets: []string{"image.tar (debian 12.12)"}, OSPackages: 90}
	for _, tt := range []struct {
		name   string
		rep    scanreport.Report
		covers []string
		want   string // "" = covered
	}{
		{"the OS packages", debian, []string{"os-packages"}, ""},
		{"no OS packages", goBinary, []string{"os-packages"}, "Trivy read no OS packages in the image: its report covers app, so a clean result would prove nothing about the OS (gantry.Scan.Covers asks for the OS packages)"},
		{"a file", goBinary, []string{"/app"}, ""},
		{"a file it missed", debian, []string{"os-packages", "/usr/local/bin/tini"}, "Trivy did not see /usr/local/bin/tini: its report covers image.tar (debian 12.12), so a clean result would prove nothing (gantry.Scan.Covers asks for it)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := covered(context.Background(), tt.rep, tt.covers, nil)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || err.Error() != tt.want) {
				t.Errorf("covered = %v, want %q", err, tt.want)
			}
		})
	}
}
