package trivydb

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aquasecurity/trivy-db/pkg/db"
	"github.com/aquasecurity/trivy-db/pkg/metadata"
	"github.com/aquasecurity/trivy-db/pkg/types"
	"github.com/aquasecurity/trivy-db/pkg/vulnsrc/vulnerability"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/gantry-ci/gantry/testbed/internal/cache"
)

const bucketName = "go::GitHub Security Advisory Go"

func TestAdvisoriesCoverEverySeverity(t *testing.T) {
	seen := map[types.Severity]string{}
	for _, a := range Advisories {
		seen[a.Severity] = a.Module
		if !strings.HasPrefix(a.ID, "CVE-") || !strings.HasPrefix(a.GHSA, "GHSA-") {
			t.Errorf("%s/%s: want a CVE ID and a GHSA alias", a.ID, a.GHSA)
		}
	}
	for _, sev := range []types.Severity{types.SeverityMedium, types.SeverityHigh, types.SeverityCritical} {
		if seen[sev] == "" {
			t.Errorf("no %s advisory", sev)
		}
	}
}

func TestGenerate(t *testing.T) {
	dir := t.TempDir()
	updated := Day(time.Date(2026, 12, 4, 15, 4, 5, 0, time.UTC))
	if err := Generate(dir, Advisories, updated); err != nil {
		t.Fatal(err)
	}

	meta, err := metadata.NewClient(dir).Get()
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC); !meta.UpdatedAt.Equal(want) {
		t.Errorf("metadata UpdatedAt %s, want the start of its day, %s", meta.UpdatedAt, want)
	}
	if meta.Version != db.SchemaVersion {
		t.Errorf("metadata version %d, want %d", meta.Version, db.SchemaVersion)
	}
	if !meta.NextUpdate.After(time.Now().AddDate(50, 0, 0)) || !meta.DownloadedAt.IsZero() {
		t.Errorf("metadata %+v: want NextUpdate far ahead and DownloadedAt unset", meta)
	}

	// Read it back the way Trivy does.
	if err := db.Init(dir); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	dbc := db.Config{}
	tests := []struct {
		module, id string
		severity   types.Severity
		vulnerable string
	}{
		{"golang.org/x/text", "CVE-2021-38561", types.SeverityHigh, ">= 0, < 0.3.7"},
		{"golang.org/x/crypto", "CVE-2024-45337", types.SeverityCritical, ">= 0, < 0.31.0"},
		{"golang.org/x/net", "CVE-2023-3978", types.SeverityMedium, ">= 0, < 0.13.0"},
	}
	for _, tt := range tests {
		t.Run(tt.module, func(t *testing.T) {
			advs, err := dbc.GetAdvisories("go::", tt.module)
			if err != nil {
				t.Fatal(err)
			}
			if len(advs) != 1 || advs[0].VulnerabilityID != tt.id {
				t.Fatalf("advisories %+v, want one %s", advs, tt.id)
			}
			if got := strings.Join(advs[0].VulnerableVersions, ";"); got != tt.vulnerable {
				t.Errorf("vulnerable %q, want %q", got, tt.vulnerable)
			}
			if advs[0].DataSource == nil || advs[0].DataSource.ID != vulnerability.GHSA {
				t.Errorf("data source %+v, want ghsa", advs[0].DataSource)
			}
			v, err := dbc.GetVulnerability(tt.id)
			if err != nil {
				t.Fatal(err)
			}
			if v.VendorSeverity[vulnerability.GHSA] != tt.severity || v.Severity != tt.severity.String() {
				t.Errorf("severity %v / %q, want %v", v.VendorSeverity, v.Severity, tt.severity)
			}
		})
	}
	if advs, err := dbc.GetAdvisories("go::", "golang.org/x/sys"); err != nil || len(advs) != 0 {
		t.Errorf("unexpected advisories for x/sys: %v %v", advs, err)
	}
}

func TestArtifact(t *testing.T) {
	dir := t.TempDir()
	if err := Generate(dir, Advisories, Day(time.Now())); err != nil {
		t.Fatal(err)
	}
	tgz, err := Archive(dir)
	if err != nil {
		t.Fatal(err)
	}
	art, err := Artifact(tgz)
	if err != nil {
		t.Fatal(err)
	}

	srv := httptest.NewServer(registry.New())
	defer srv.Close()
	ref, err := name.ParseReference(strings.TrimPrefix(srv.URL, "http://")+"/testbed/trivy-db:"+Tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, art); err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Config.MediaType) != ConfigMediaType {
		t.Errorf("config media type %q", m.Config.MediaType)
	}
	if len(m.Layers) != 1 || string(m.Layers[0].MediaType) != LayerMediaType ||
		m.Layers[0].Annotations[TitleAnnotation] != "db.tar.gz" {
		t.Fatalf("layers %+v", m.Layers)
	}
	layers, _ := img.Layers()
	rc, err := layers[0].Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out := t.TempDir()
	data := make([]byte, 0, len(tgz))
	buf := make([]byte, 32*1024)
	for {
		n, err := rc.Read(buf)
		data = append(data, buf[:n]...)
		if err != nil {
			break
		}
	}
	if err := Extract(data, out); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"trivy.db", "metadata.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("artifact lacks %s", f)
		}
	}
	var meta metadata.Metadata
	raw, _ := os.ReadFile(filepath.Join(out, "metadata.json"))
	if err := json.Unmarshal(raw, &meta); err != nil || meta.Version != db.SchemaVersion {
		t.Errorf("metadata %s: %v", raw, err)
	}
}

// The second Build reads the archive the first one cached; the marker
// written over the cache entry proves it was not generated again.
func TestBuildCaches(t *testing.T) {
	c := cache.Dir(t.TempDir())
	day := Day(time.Now())
	a, err := Build(c, Advisories, day)
	if err != nil {
		t.Fatal(err)
	}
	if err := Extract(a, t.TempDir()); err != nil {
		t.Fatalf("first Build's archive: %v", err)
	}
	entries, err := filepath.Glob(c.Path("layers", "trivy-db-*"))
	if err != nil || len(entries) != 1 {
		t.Fatalf("cache entries %v (%v), want one", entries, err)
	}
	if err := os.WriteFile(entries[0], []byte("cached"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := Build(c, Advisories, day)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "cached" {
		t.Error("second Build generated the DB again instead of reading the cache")
	}
	if Key(Advisories, day) == Key(Advisories[:1], day) {
		t.Error("Key ignores the advisories")
	}
	if Key(Advisories, day) == Key(Advisories, day.AddDate(0, 0, 1)) {
		t.Error("Key ignores the update time")
	}
}
