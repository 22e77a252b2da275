// Package verify is what verifying a published image yields: one check
// per line (signature, provenance, scan), all of which must pass. The
// checks themselves run in gantry-publish and gantry-verify (the commands'
// internal package check), with cosign's verification; this package stays
// light for `go run ./ci`.
package verify

import (
	"fmt"
	"strings"
	"time"

	"github.com/gantry-ci/gantry/ci/internal/identity"
)

// Expect is what the image must be.
type Expect struct {
	Repository string   // https://github.com/OWNER/REPO the provenance must name
	Commit     string   // the commit it must name; "" accepts any, and says which
	Severity   []string // the scan gate to re-apply to the newest scan
	// MaxScanAge, when set, is how old the newest scan may be at Now.
	MaxScanAge time.Duration
	Now        time.Time
}

// Keyless is who must have signed an image keylessly, and which Sigstore
// to trust.
type Keyless struct {
	// Policy is who may have signed, as the certificate must say.
	Policy identity.Policy
	// Subject (exact) or SubjectRegexp narrows the certificate's subject
	// further: cosign's --certificate-identity(-regexp).
	Subject, SubjectRegexp string
	// Roots holds PEM Fulcio certificates; empty: Sigstore's public roots.
	Roots []byte
	// IgnoreSCT and IgnoreTlog are cosign's --insecure-ignore-sct and
	// --insecure-ignore-tlog, for a Sigstore without a CT log or Rekor.
	IgnoreSCT, IgnoreTlog bool
	// RekorKey is the PEM public key of a private Sigstore's Rekor.
	RekorKey []byte
}

// Check is one verdict.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Built is what the provenance says of the image.
type Built struct {
	Commit   string    `json:"commit"`
	Ref      string    `json:"ref"`
	Builder  string    `json:"builder"`
	Finished time.Time `json:"finished"`
	RunKey   string    `json:"runKey,omitempty"` // the run's key, if it recorded one
	// Dirty says the work tree had uncommitted changes (--allow-dirty):
	// what was built is not the commit.
	Dirty bool `json:"dirty,omitempty"`
	// GoCaches are the images of the Go caches its tests compiled, by
	// module directory (registry/name@sha256:...).
	GoCaches map[string]string `json:"goCaches,omitempty"`
}

// Report is the outcome of verifying one image.
type Report struct {
	Digest string `json:"digest"`
	// Platforms (os/arch) of an index's manifests, or of a single image.
	Platforms []string `json:"platforms,omitempty"`
	Checks    []Check  `json:"checks"`
	Built     *Built   `json:"built,omitempty"` // from the provenance that passed
}

// Passed reports whether the named check ran and passed.
func (r Report) Passed(name string) bool {
	for _, c := range r.Checks {
		if c.Name == name {
			return c.OK
		}
	}
	return false
}

// Detail is the named check's detail.
func (r Report) Detail(name string) string {
	for _, c := range r.Checks {
		if c.Name == name {
			return c.Detail
		}
	}
	return ""
}

// OK reports whether every check passed.
func (r Report) OK() bool {
	if len(r.Checks) == 0 {
		return false
	}
	for _, c := range r.Checks {
		if !c.OK {
			return false
		}
	}
	return true
}

// Text renders the report: one line per check, then the verdict.
func (r Report) Text(image string) string {
	var b strings.Builder
	failed := 0
	for _, c := range r.Checks {
		mark := "✓"
		if !c.OK {
			mark, failed = "✗", failed+1
		}
		fmt.Fprintf(&b, "%s %s: %s\n", mark, c.Name, c.Detail)
	}
	if r.OK() {
		fmt.Fprintf(&b, "verified %s@%s\n", image, r.Digest)
	} else {
		fmt.Fprintf(&b, "NOT verified: %d of %d checks failed for %s@%s\n", failed, len(r.Checks), image, r.Digest)
	}
	return b.String()
}
