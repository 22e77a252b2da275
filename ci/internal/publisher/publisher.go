// Package publisher is the contract between the pipeline and gantry-publish:
// one typed request, naming one operation, read from a JSON file, and one
// typed result per operation, written to another (a file, unlike an exec's
// output, is not masked by Dagger for secret values). Secrets never travel
// in a request: they reach gantry-publish as variables set from Dagger
// secrets, $GANTRY_REGISTRY_TOKEN, $GANTRY_SIGN_KEY (with $COSIGN_PASSWORD)
// and $GANTRY_ID_TOKEN.
package publisher

import (
	"errors"
	"fmt"
	"time"

	"github.com/gantry-ci/gantry/ci/internal/dockerfile"
	"github.com/gantry-ci/gantry/ci/internal/tags"
	"github.com/gantry-ci/gantry/ci/internal/verify"
)

// Request is one call of gantry-publish: the repository and how to reach
// it, and exactly one operation.
type Request struct {
	Repository string // registry/name
	Username   string // with the token in $GANTRY_REGISTRY_TOKEN; "" for anonymous
	Insecure   bool   // plain HTTP

	Publish      *Publish      `json:",omitempty"`
	Revision     *Revision     `json:",omitempty"`
	AliasVersion *AliasVersion `json:",omitempty"`
	CacheStatus  *CacheStatus  `json:",omitempty"`
	Verify       *Verify       `json:",omitempty"`
}

// Mode is what a Publish does with the image.
type Mode string

const (
	// Tag publishes: push (or read From), sign and attest, then point
	// the tags at the digest. The result is a push.Result.
	Tag Mode = "tag"
	// Stage pushes, signs and attests, and tags nothing: the caller
	// checks the result, then tags the digest with a Tag of From.
	Stage Mode = "stage"
	// AttestOnly attests From (a promotion's failed rescan) and signs
	// and tags nothing.
	AttestOnly Mode = "attest-only"
)

// Publish pushes an image to the repository as one transaction.
type Publish struct {
	Mode Mode
	// Archive is the OCI layout tar to push; or
	Archive string `json:",omitempty"`
	// From is a digest of the repository to publish as it is (a promotion,
	// or a staged digest to tag).
	From string   `json:",omitempty"`
	Tags []string `json:",omitempty"`
	// Healthcheck is written into each image's config (an Archive only).
	Healthcheck *dockerfile.Healthcheck `json:",omitempty"`
	// Keyless signs with a certificate from Fulcio for the OIDC token in
	// $GANTRY_ID_TOKEN; nil signs with $GANTRY_SIGN_KEY if set, else not.
	Keyless *Keyless `json:",omitempty"`
	// Attest are the predicates to attest the top digest with, in order;
	// they need a signer.
	Attest []Attestation `json:",omitempty"`
	// Timeout bounds the whole publish (a rollback gets 30 s more).
	Timeout time.Duration
}

// Attestation is a predicate of Type (cosign's name: slsaprovenance1,
// cyclonedx, vuln) in File.
type Attestation struct{ Type, File string }

// Keyless is where a keyless signature's certificate and log entry go.
type Keyless struct {
	FulcioURL string
	RekorURL  string // "": no transparency log
}

// Revision reads the commit Tag was built from (its revision label).
type Revision struct{ Tag string }

// RevisionResult is a Revision's answer: "" if the tag does not exist.
type RevisionResult struct{ Revision string }

// AliasVersion reads the release an alias (1.5, 1) points at, its tags in
// Flavor.
type AliasVersion struct {
	Alias  string
	Flavor tags.Flavor
}

// AliasVersionResult is an AliasVersion's answer, without the flavor: ""
// if the alias points at no release of its line.
type AliasVersionResult struct{ Version string }

// CacheStatus probes the layer cache at Ref (registry/name:tag); the
// result is a layercache.Status.
type CacheStatus struct{ Ref string }

// Verify checks an image (a tag or a digest of the repository's registry)
// as `gantry verify` does; the result is a verify.Report.
type Verify struct {
	Image string
	// PublicKey is the PEM key it must be signed with; or
	PublicKey []byte `json:",omitempty"`
	// Keyless is who must have signed it keylessly.
	Keyless *verify.Keyless `json:",omitempty"`
	// Expect is what its provenance and scan must say (Now is
	// gantry-publish's clock).
	Expect verify.Expect
}

// Validate says what is wrong with r, before anything is read or written.
func (r Request) Validate() error {
	ops := 0
	for _, set := range []bool{r.Publish != nil, r.Revision != nil, r.AliasVersion != nil, r.CacheStatus != nil, r.Verify != nil} {
		if set {
			ops++
		}
	}
	if ops != 1 {
		return fmt.Errorf("a request names exactly one operation (Publish, Revision, AliasVersion, CacheStatus, Verify), not %d", ops)
	}
	if r.Repository == "" && r.CacheStatus == nil && r.Verify == nil {
		return errors.New("the request names no Repository")
	}
	switch {
	case r.Publish != nil:
		return r.Publish.validate()
	case r.Revision != nil && r.Revision.Tag == "":
		return errors.New("Revision names no Tag")
	case r.AliasVersion != nil && !tags.Alias(r.AliasVersion.Alias):
		return fmt.Errorf("AliasVersion: %q is not a release alias (MAJOR or MAJOR.MINOR)", r.AliasVersion.Alias)
	case r.CacheStatus != nil && r.CacheStatus.Ref == "":
		return errors.New("CacheStatus names no Ref")
	case r.Verify != nil && r.Verify.Image == "":
		return errors.New("Verify names no Image")
	case r.Verify != nil && (len(r.Verify.PublicKey) > 0) == (r.Verify.Keyless != nil):
		return errors.New("Verify takes a PublicKey or a Keyless policy, one of them")
	}
	return nil
}

func (p Publish) validate() error {
	switch {
	case (p.Archive == "") == (p.From == ""):
		return errors.New("Publish takes an Archive or a From digest, one of them")
	case p.Mode != Tag && p.Mode != Stage && p.Mode != AttestOnly:
		return fmt.Errorf("Publish: mode %q is not %s, %s or %s", p.Mode, Tag, Stage, AttestOnly)
	case p.Mode == AttestOnly && (p.From == "" || len(p.Attest) == 0 || len(p.Tags) > 0):
		return errors.New("Publish: attest-only needs From and Attest, and writes no Tags")
	case p.Mode == Tag && len(p.Tags) == 0:
		return errors.New("Publish: tag mode names no Tags")
	case p.Timeout <= 0:
		return errors.New("Publish: the Timeout must be positive")
	}
	return nil
}
