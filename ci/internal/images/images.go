// Package images is the one place where Gantry pins the external images it
// uses: the Dockerfile's base images, the smoke-test database and probe, and
// the scanner. A JSON file (--images, GANTRY_IMAGES) can override any of
// them; the offline test bed writes one that points at its stand-ins.
package images

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/gantry-ci/gantry/ci/internal/imageref"
)

// Set is the complete list of external images and artifacts the pipeline
// pulls. Every image is pinned by digest (and by tag too where a
// trustworthy source gives one).
type Set struct {
	// Go is the Dockerfile's build stage (ARG GO_IMAGE).
	Go string `json:"go"`
	// Runtime is the Dockerfile's runtime stage (ARG RUNTIME_IMAGE).
	Runtime string `json:"runtime"`
	// Postgres is the database the smoke and test stages run against.
	Postgres string `json:"postgres"`
	// Trivy is the scanner image.
	Trivy string `json:"trivy"`
	// Probe is a small image with wget, used to call the service.
	Probe string `json:"probe"`
	// TrivyDBRepository overrides Trivy's vulnerability DB location
	// (--db-repository). Empty means Trivy's built-in default.
	TrivyDBRepository string `json:"trivy_db_repository,omitempty"`
	// InsecureRegistries lists host:port registries spoken to over plain
	// HTTP (an air-gapped mirror, the test bed's registry).
	InsecureRegistries []string `json:"insecure_registries,omitempty"`
	// Project replaces images the project declares (gantry.Images), by
	// name. Pinned has none: the project's declaration is their pin.
	Project map[string]string `json:"project,omitempty"`
}

// Pinned is the production image set. Each digest was read from a public
// repository whose pins are kept by Renovate or Dependabot (August 2026); the
// source is noted per line so a reviewer can re-check it.
var Pinned = Set{
	// sigstore/rekor, Kong/kubernetes-ingress-controller Dockerfiles (2026-08).
	Go: "golang:1.26.6@sha256:0d1d3a794be25f809dd2cb3160d8c73276c4056a9f8242a138e908ddeee7b6b6",
	// dexidp/dex, cloudnative-pg/cloudnative-pg Dockerfiles (2026-07).
	Runtime: "gcr.io/distroless/static-debian13:nonroot@sha256:f7f8f729987ad0fdf6b05eeeae94b26e6a0f613bdf46feea7fc40f7bd72953e6",
	// DefectDojo/django-DefectDojo docker-compose.yml (2026-07, Renovate).
	Postgres: "postgres:18.4-alpine@sha256:9a8afca54e7861fd90fab5fdf4c42477a6b1cb7d293595148e674e0a3181de15",
	// dagger/dagger security module; signed before the March 2026 Trivy
	// supply-chain incident (0.69.4-0.69.6 were malicious). Never unpin.
	Trivy: "aquasec/trivy:0.69.3@sha256:bcc376de8d77cfe086a917230e818dc9f8528e3c852f7b1aff648949b6258d1c",
	// argoproj/argo-cd, envoyproxy/gateway (2026-08); pinned by digest only,
	// as upstream pins it.
	Probe: "busybox@sha256:dc2d74b28e4cf8984fa52af1f39bc7c3d9c73760b41a74d629f5d11b1ab28616",
}

// Load returns Pinned with the non-empty fields of the JSON file at path
// applied on top. An empty path returns Pinned unchanged.
func Load(path string) (Set, error) {
	set := Pinned
	if path == "" {
		return set, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Set{}, fmt.Errorf("reading image set %s: %w", path, err)
	}
	var override Set
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&override); err != nil {
		return Set{}, fmt.Errorf("parsing image set %s: %w", path, err)
	}
	set.merge(override)
	if err := set.Validate(); err != nil {
		return Set{}, fmt.Errorf("image set %s: %w", path, err)
	}
	return set, nil
}

func (s *Set) merge(o Set) {
	for _, f := range []struct {
		dst *string
		src string
	}{
		{&s.Go, o.Go}, {&s.Runtime, o.Runtime}, {&s.Postgres, o.Postgres},
		{&s.Trivy, o.Trivy}, {&s.Probe, o.Probe}, {&s.TrivyDBRepository, o.TrivyDBRepository},
	} {
		if f.src != "" {
			*f.dst = f.src
		}
	}
	if len(o.InsecureRegistries) > 0 {
		s.InsecureRegistries = o.InsecureRegistries
	}
	if len(o.Project) > 0 {
		s.Project = o.Project
	}
}

// Validate reports the first image reference that is empty, malformed or
// not pinned by digest.
func (s Set) Validate() error {
	refs := []struct{ name, ref string }{
		{"go", s.Go}, {"runtime", s.Runtime}, {"postgres", s.Postgres},
		{"trivy", s.Trivy}, {"probe", s.Probe},
	}
	for _, k := range slices.Sorted(maps.Keys(s.Project)) {
		refs = append(refs, struct{ name, ref string }{"project." + k, s.Project[k]})
	}
	for _, f := range refs {
		if f.ref == "" {
			return fmt.Errorf("%q is empty", f.name)
		}
		if _, err := name.ParseReference(f.ref); err != nil {
			return fmt.Errorf("%q: %q is not an image reference: %w", f.name, f.ref, err)
		}
		if err := imageref.Pinned(f.ref); err != nil {
			return fmt.Errorf("%q: %w", f.name, err)
		}
	}
	return nil
}

// ForProject returns the project's images (declared: name -> pinned
// reference) with the set's replacements applied. A replacement of an
// image the project does not declare is an error: a misspelt name would
// otherwise leave the pin in place unnoticed.
func (s Set) ForProject(declared map[string]string) (map[string]string, error) {
	out := maps.Clone(declared)
	for _, k := range slices.Sorted(maps.Keys(s.Project)) {
		if _, ok := declared[k]; !ok {
			has := strings.Join(slices.Sorted(maps.Keys(declared)), ", ")
			return nil, fmt.Errorf("\"project\" replaces %s, which the project does not declare (gantry.Images has %s)", k, cmp.Or(has, "none"))
		}
		out[k] = s.Project[k]
	}
	return out, nil
}

// Insecure reports whether ref lives on a registry listed as plain HTTP.
func (s Set) Insecure(ref string) bool {
	host := imageref.Registry(ref)
	for _, r := range s.InsecureRegistries {
		if r == host {
			return true
		}
	}
	return false
}
