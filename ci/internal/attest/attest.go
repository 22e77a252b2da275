// Package attest writes the predicates Gantry attests on what it
// publishes: SLSA provenance v1 for the build, and cosign's vulnerability
// predicate for the scan. It uses the in-toto and cosign types, so cosign's
// own statement generator (which gantry-publish runs) accepts them.
package attest

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/in-toto/in-toto-golang/in_toto/slsa_provenance/common"
	slsa1 "github.com/in-toto/in-toto-golang/in_toto/slsa_provenance/v1"
	"github.com/sigstore/cosign/v2/pkg/cosign/attestation"

	"github.com/gantry-ci/gantry/ci/internal/imageref"
)

// BuildType names what Gantry's provenance records; docs/provenance.md
// describes its parameters.
const BuildType = "https://github.com/gantry-ci/gantry/blob/main/docs/provenance.md#v1"

// LocalBuilder is the builder id of runs outside GitHub Actions. It says
// only that Gantry built the image, not where: a local key vouches for the
// rest.
const LocalBuilder = "https://github.com/gantry-ci/gantry/builders/local@v1"

// Run is what a run was asked to do and what it used.
type Run struct {
	Builder      string            // builder id: the workflow's identity, or LocalBuilder
	InvocationID string            // the workflow run's URL, or a local run id
	Repository   string            // https://github.com/OWNER/REPO ("" if unknown)
	Ref          string            // refs/heads/main, refs/tags/v1.2.3
	SHA          string            // the commit built
	Event        string            // push, workflow_dispatch, ...
	Image        string            // registry/name published to
	Tags         []string          // tags this publish writes
	Platforms    []string          // linux/amd64, ...
	Flags        map[string]any    // Gantry flags that change the output
	Images       map[string]string // role -> pinned image ref (name:tag@sha256:...)
	TrivyDB      DB
	Versions     map[string]string // builder component -> version (gantry, dagger)
	Started      time.Time
	// RunKey digests every input that decides the run's outcome (see
	// RunKeyParameter); "" if it could not be computed.
	RunKey string
	// GoCaches are the images of the Go caches the test stage compiled,
	// by module directory (registry/name@sha256:...): a later run that
	// verifies this provenance may start its tests from them.
	GoCaches map[string]string
}

// GoCachesByproduct prefixes the name of a byproduct that holds a module's
// Go caches (its directory follows).
const GoCachesByproduct = "go-caches:"

// RunKeyParameter is the internal parameter holding the run key: a later
// run with the same key, on any runner, may take this signed provenance
// as the record that its own run would pass, and do nothing.
const RunKeyParameter = "runKey"

// DB is the vulnerability database a scan used.
type DB struct {
	Repository string // OCI repository, e.g. mirror.gcr.io/aquasec/trivy-db:2
	Digest     string // sha256:...; "" if it could not be read
}

// Provenance is the SLSA v1 provenance predicate of a run that passed its
// gates at finished.
func Provenance(r Run, finished time.Time) ([]byte, error) {
	ext := map[string]any{
		"ref":       r.Ref,
		"commit":    r.SHA,
		"event":     r.Event,
		"image":     r.Image,
		"tags":      r.Tags,
		"platforms": r.Platforms,
		"flags":     r.Flags,
	}
	if r.Repository != "" {
		ext["repository"] = r.Repository
	}
	var deps []slsa1.ResourceDescriptor
	src := slsa1.ResourceDescriptor{Name: "source", Digest: common.DigestSet{"gitCommit": r.SHA}}
	if r.Repository != "" {
		src.URI = "git+" + r.Repository + "@" + r.Ref
	}
	deps = append(deps, src)
	roles := make([]string, 0, len(r.Images))
	for role := range r.Images {
		roles = append(roles, role)
	}
	sort.Strings(roles)
	for _, role := range roles {
		d, err := imageDependency(role, r.Images[role])
		if err != nil {
			return nil, err
		}
		deps = append(deps, d)
	}
	db := slsa1.ResourceDescriptor{Name: "trivy-db", URI: "oci://" + r.TrivyDB.Repository}
	if r.TrivyDB.Digest != "" {
		alg, hex, ok := strings.Cut(r.TrivyDB.Digest, ":")
		if !ok {
			return nil, fmt.Errorf("trivy DB digest %q is not algorithm:hex", r.TrivyDB.Digest)
		}
		db.Digest = common.DigestSet{alg: hex}
	} else {
		db.Annotations = map[string]any{"digest": "unknown: the registry could not be read before the scan"}
	}
	deps = append(deps, db)

	started, fin := r.Started.UTC(), finished.UTC()
	p := slsa1.ProvenancePredicate{
		BuildDefinition: slsa1.ProvenanceBuildDefinition{
			BuildType:            BuildType,
			ExternalParameters:   ext,
			ResolvedDependencies: deps,
		},
		RunDetails: slsa1.ProvenanceRunDetails{
			Builder:       slsa1.Builder{ID: r.Builder, Version: r.Versions},
			BuildMetadata: slsa1.BuildMetadata{InvocationID: r.InvocationID, StartedOn: &started, FinishedOn: &fin},
		},
	}
	if r.RunKey != "" {
		p.BuildDefinition.InternalParameters = map[string]any{RunKeyParameter: r.RunKey}
	}
	for _, dir := range slices.Sorted(maps.Keys(r.GoCaches)) {
		d, err := name.NewDigest(r.GoCaches[dir])
		if err != nil {
			return nil, fmt.Errorf("the Go caches of module %s: %q is not pinned by digest: %w", dir, r.GoCaches[dir], err)
		}
		alg, hex, _ := strings.Cut(d.DigestStr(), ":")
		p.RunDetails.Byproducts = append(p.RunDetails.Byproducts, slsa1.ResourceDescriptor{
			Name: GoCachesByproduct + dir, URI: "oci://" + d.Context().Name(), Digest: common.DigestSet{alg: hex}})
	}
	return json.Marshal(p)
}

// imageDependency describes a pinned image: its full repository name and
// tag as the URI, its digest as the digest.
func imageDependency(role, ref string) (slsa1.ResourceDescriptor, error) {
	d, err := name.NewDigest(ref)
	if err != nil {
		return slsa1.ResourceDescriptor{}, fmt.Errorf("image %s: %q is not pinned by digest: %w", role, ref, err)
	}
	uri := "oci://" + d.Context().Name()
	if t := imageref.Tag(ref); t != "" {
		uri += ":" + t
	}
	alg, hex, _ := strings.Cut(d.DigestStr(), ":")
	return slsa1.ResourceDescriptor{Name: role, URI: uri, Digest: common.DigestSet{alg: hex}}, nil
}

// Gate is the scan gate's verdict.
type Gate struct {
	Severities    []string       `json:"severities"` // what fails the gate
	IgnoreUnfixed bool           `json:"ignoreUnfixed"`
	Passed        bool           `json:"passed"`
	Counts        map[string]int `json:"counts"` // findings by severity
}

// Scan is one run's scan: Trivy's JSON report per platform, the DB and the
// gate.
type Scan struct {
	Version string // Trivy's version
	DB      DB     // the DB scanned with
	// DBUpdatedAt is the DB's own update time (its metadata.json), which
	// the scan checked against --max-db-age.
	DBUpdatedAt time.Time
	// Ignorefile is the .trivyignore in effect; nil: none.
	Ignorefile *Ignorefile
	Reports    map[string]json.RawMessage // platform -> Trivy JSON report
	Gate       Gate
	Started    time.Time
	Finished   time.Time
}

// ScanResult is the predicate's result: the gate's verdict and Trivy's
// reports, so that a verifier can re-apply a gate of its own.
type ScanResult struct {
	Gate        Gate                       `json:"gate"`
	DBUpdatedAt time.Time                  `json:"dbUpdatedAt"`
	Ignorefile  *Ignorefile                `json:"ignorefile,omitempty"`
	Reports     map[string]json.RawMessage `json:"reports"`
}

// Ignorefile is an ignore file the scan applied: what a verifier needs to
// see that findings were left out, and which.
type Ignorefile struct {
	Path       string   `json:"path"`
	Digest     string   `json:"digest"`     // sha256:<hex> of its content
	Suppressed []string `json:"suppressed"` // vulnerability IDs it took out
}

// Vuln is the cosign vulnerability predicate of a scan
// (https://cosign.sigstore.dev/attestation/vuln/v1).
func Vuln(r Run, s Scan) ([]byte, error) {
	p := attestation.CosignVulnPredicate{
		Invocation: attestation.Invocation{
			// image and tags: where this publish pointed the digest, so
			// that `verify IMAGE:TAG` can tell a tag Gantry wrote from one
			// a registry writer added.
			Parameters: map[string]any{"severity": s.Gate.Severities, "ignoreUnfixed": s.Gate.IgnoreUnfixed,
				"image": r.Image, "tags": nonNil(r.Tags)},
			URI:       r.InvocationID,
			EventID:   r.InvocationID,
			BuilderID: r.Builder,
		},
		Scanner: attestation.Scanner{
			URI:     "pkg:github/aquasecurity/trivy@" + s.Version,
			Version: s.Version,
			DB:      attestation.DB{URI: "oci://" + s.DB.Repository, Version: s.DB.Digest},
			Result:  ScanResult{Gate: s.Gate, DBUpdatedAt: s.DBUpdatedAt.UTC(), Ignorefile: s.Ignorefile, Reports: s.Reports},
		},
		Metadata: attestation.Metadata{ScanStartedOn: s.Started.UTC(), ScanFinishedOn: s.Finished.UTC()},
	}
	return json.Marshal(p)
}

// nonNil is s, or an empty list for nil (JSON [] rather than null).
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
