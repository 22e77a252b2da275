// Package imageref reads image references (registry/name[:tag][@digest])
// with go-containerregistry's parser: what Gantry prints, records and
// checks is parsed one way.
package imageref

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Tag is the tag ref names, or "" if it names none: name.NewTag would
// read a reference without one as :latest.
func Tag(ref string) string {
	repoTag, _, _ := strings.Cut(ref, "@")
	t, err := name.NewTag(repoTag, name.WeakValidation)
	if err != nil || !strings.HasSuffix(repoTag, ":"+t.TagStr()) {
		return ""
	}
	return t.TagStr()
}

// Registry is the registry host (host[:port]) that ref lives on, as
// written: docker.io for a Docker Hub name, "" for what is no reference.
func Registry(ref string) string {
	r, err := name.ParseReference(ref, name.WeakValidation)
	if err != nil {
		return ""
	}
	if reg := r.Context().RegistryStr(); reg != name.DefaultRegistry {
		return reg
	}
	return "docker.io"
}

// Split returns the tagged part and the digest of name:tag@digest, or
// false if ref is not both tagged and pinned.
func Split(ref string) (tagged, digest string, ok bool) {
	d, err := name.NewDigest(ref, name.WeakValidation)
	if err != nil || Tag(ref) == "" {
		return "", "", false
	}
	tagged, _, _ = strings.Cut(ref, "@")
	return tagged, d.DigestStr(), true
}

// Pinned checks that ref is pinned by digest: a tag can move while the run
// cache's key, which holds the reference, stays the same; a digest can't.
func Pinned(ref string) error {
	if _, err := name.NewDigest(ref); err != nil {
		return fmt.Errorf("%q is not pinned by digest: write it as name[:tag]@sha256:<64 hex>", ref)
	}
	return nil
}
