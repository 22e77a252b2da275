// Package trivydb generates a small Trivy vulnerability DB with trivy-db's
// own API and packages it as the OCI artifact Trivy downloads. Its
// advisories are real GitHub advisories for old versions of common Go
// modules, so scans of binaries built with those versions find them the way
// they would with the public DB, in all severities the pipeline's gate
// distinguishes.
package trivydb

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/aquasecurity/trivy-db/pkg/db"
	"github.com/aquasecurity/trivy-db/pkg/metadata"
	"github.com/aquasecurity/trivy-db/pkg/types"
	"github.com/aquasecurity/trivy-db/pkg/vulnsrc/bucket"
	"github.com/aquasecurity/trivy-db/pkg/vulnsrc/vulnerability"
	"github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	ggcrtypes "github.com/google/go-containerregistry/pkg/v1/types"
	bolt "go.etcd.io/bbolt"

	"github.com/gantry-ci/gantry/testbed/internal/cache"
)

// Media types and annotation of the artifact, as Trivy expects them.
const (
	LayerMediaType  = "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip"
	ConfigMediaType = "application/vnd.aquasec.trivy.config.v1+json"
	TitleAnnotation = "org.opencontainers.image.title"
	LayerTitle      = "db.tar.gz"
)

// Tag is the artifact's tag: the DB schema version Trivy asks for.
var Tag = fmt.Sprint(db.SchemaVersion)

// GoDataSource is the GitHub advisory database for Go, as trivy-db's ghsa
// source records it.
var GoDataSource = types.DataSource{
	ID:   vulnerability.GHSA,
	Name: "GitHub Security Advisory Go",
	URL:  "https://github.com/advisories?query=type%3Areviewed+ecosystem%3Ago",
}

// Advisory is one vulnerability of one Go module.
type Advisory struct {
	// ID is the primary ID (the CVE, as trivy-db prefers it to the GHSA).
	ID         string
	GHSA       string
	Module     string
	Vulnerable []string // trivy-db's range syntax: ">= 0, < 0.3.7"
	Patched    []string
	Severity   types.Severity
	CVSSVector string
	CVSSScore  float64
	Title      string
	Published  time.Time
}

func date(s string) time.Time {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return t
}

// Advisories are the DB's content: real advisories (GitHub advisory
// database) with their real ranges and severities.
var Advisories = []Advisory{
	{
		// Any binary built with golang.org/x/text v0.3.6 or older.
		ID: "CVE-2021-38561", GHSA: "GHSA-ppp9-7jff-5vj2", Module: "golang.org/x/text",
		Vulnerable: []string{">= 0, < 0.3.7"}, Patched: []string{"0.3.7"},
		Severity:   types.SeverityHigh,
		CVSSVector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", CVSSScore: 7.5,
		Title:     "golang.org/x/text/language Out-of-bounds Read vulnerability",
		Published: date("2022-12-27"),
	},
	{
		// golang.org/x/crypto v0.30.0 or older (e.g. v0.17.0).
		ID: "CVE-2024-45337", GHSA: "GHSA-v778-237x-gjrc", Module: "golang.org/x/crypto",
		Vulnerable: []string{">= 0, < 0.31.0"}, Patched: []string{"0.31.0"},
		Severity:   types.SeverityCritical,
		CVSSVector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:N", CVSSScore: 9.1,
		Title:     "Misuse of ServerConfig.PublicKeyCallback may cause authorization bypass in golang.org/x/crypto",
		Published: date("2024-12-11"),
	},
	{
		// golang.org/x/net v0.12.0 or older: the MEDIUM finding (x/net
		// v0.12.0 requires x/text v0.11.0, so it brings no HIGH one along).
		ID: "CVE-2023-3978", GHSA: "GHSA-2wrh-6pvc-2jm9", Module: "golang.org/x/net",
		Vulnerable: []string{">= 0, < 0.13.0"}, Patched: []string{"0.13.0"},
		Severity:   types.SeverityMedium,
		CVSSVector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", CVSSScore: 6.1,
		Title:     "Improper rendering of text nodes in golang.org/x/net/html",
		Published: date("2023-08-02"),
	},
}

// Generate writes trivy.db and metadata.json for advs into dir. updatedAt
// goes into the metadata; NextUpdate is far in the future so Trivy never
// considers the DB stale.
func Generate(dir string, advs []Advisory, updatedAt time.Time) (err error) {
	if err := db.Init(dir); err != nil {
		return fmt.Errorf("opening trivy DB in %s: %w", dir, err)
	}
	defer func() {
		if cerr := db.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	bkt, err := bucket.NewGo(GoDataSource)
	if err != nil {
		return err
	}
	dbc := db.Config{}
	err = dbc.BatchUpdate(func(tx *bolt.Tx) error {
		if err := dbc.PutDataSource(tx, bkt.Name(), GoDataSource); err != nil {
			return err
		}
		for _, a := range advs {
			adv := types.Advisory{
				VendorIDs:          []string{a.GHSA},
				VulnerableVersions: a.Vulnerable,
				PatchedVersions:    a.Patched,
			}
			if err := dbc.PutAdvisory(tx, []string{bkt.Name(), a.Module}, a.ID, &adv); err != nil {
				return err
			}
			published := a.Published
			vuln := types.Vulnerability{
				Title:          a.Title,
				Severity:       a.Severity.String(),
				VendorSeverity: types.VendorSeverity{vulnerability.GHSA: a.Severity},
				CVSS: types.VendorCVSS{vulnerability.GHSA: types.CVSS{
					V3Vector: a.CVSSVector, V3Score: a.CVSSScore,
				}},
				References: []string{
					"https://github.com/advisories/" + a.GHSA,
					"https://nvd.nist.gov/vuln/detail/" + a.ID,
				},
				PublishedDate: &published,
			}
			if err := dbc.PutVulnerability(tx, a.ID, vuln); err != nil {
				return err
			}
			if err := dbc.PutVulnerabilityID(tx, a.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("writing advisories: %w", err)
	}
	return metadata.NewClient(dir).Update(metadata.Metadata{
		Version:    db.SchemaVersion,
		NextUpdate: updatedAt.AddDate(100, 0, 0),
		UpdatedAt:  updatedAt,
	})
}

// Archive returns the gzipped tar of trivy.db and metadata.json in dir,
// the layer of the DB artifact.
func Archive(dir string) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, name := range []string{"trivy.db", "metadata.json"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Extract unpacks an archive made by Archive into dir.
func Extract(tgz []byte, dir string) error {
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if hdr.Name != filepath.Base(hdr.Name) {
			return fmt.Errorf("unexpected entry %q", hdr.Name)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, hdr.Name), data, 0o644); err != nil {
			return err
		}
	}
}

// Artifact wraps the archive as the OCI artifact Trivy pulls with
// --db-repository: one layer of LayerMediaType titled db.tar.gz.
func Artifact(tgz []byte) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, ggcrtypes.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, ConfigMediaType)
	return mutate.Append(img, mutate.Addendum{
		Layer:       static.NewLayer(tgz, LayerMediaType),
		Annotations: map[string]string{TitleAnnotation: LayerTitle},
	})
}

// Key identifies the DB content (advisories, schema and update time) for
// caching.
func Key(advs []Advisory, updated time.Time) string {
	data, _ := json.Marshal(struct {
		Schema  int
		Advs    []Advisory
		Updated time.Time
	}{db.SchemaVersion, advs, updated.UTC()})
	return cache.Key(string(data))
}

// Day is the update time of a DB generated at now: the start of its UTC
// day, so that a day's `up` runs push one DB, and a pipeline's
// --max-db-age (3 days by default) sees a DB as fresh as a mirror's.
func Day(now time.Time) time.Time {
	return now.UTC().Truncate(24 * time.Hour)
}

// Build returns the archive of the DB of advs updated at updated,
// generating it into the cache when missing.
func Build(c cache.Dir, advs []Advisory, updated time.Time) ([]byte, error) {
	dest := c.Path("layers", cache.Entry("trivy-db", Tag, Key(advs, updated))+".tar.gz")
	if data, err := os.ReadFile(dest); err == nil {
		return data, nil
	}
	dir, err := os.MkdirTemp("", "trivy-db-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := Generate(dir, advs, updated); err != nil {
		return nil, err
	}
	data, err := Archive(dir)
	if err != nil {
		return nil, err
	}
	if _, err := cache.Ensure(dest, func(tmp string) error { return os.WriteFile(tmp, data, 0o644) }); err != nil {
		return nil, err
	}
	cache.Prune(filepath.Dir(dest), "trivy-db-", filepath.Base(dest))
	return data, nil
}
