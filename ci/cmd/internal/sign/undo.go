package sign

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	ggempty "github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/cosign/v2/pkg/oci/empty"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"

	"github.com/gantry-ci/gantry/ci/internal/push"
)

// Snapshot is what cosign's signature and attestation tags and the
// referrers tag of some digests point at before a publish signs them, so
// that a failed publish can put them back and leave no tag behind.
type Snapshot struct {
	tags []name.Tag
	prev map[string]*remote.Descriptor // by tag; nil: the tag did not exist
}

// Take records the signature, attestation and referrers tags of each
// digest.
func Take(digests []name.Digest, ropts []remote.Option) (Snapshot, error) {
	s := Snapshot{prev: map[string]*remote.Descriptor{}}
	referrersTag := func(r name.Reference, _ ...ociremote.Option) (name.Tag, error) {
		return ReferrersTag(r.(name.Digest)), nil
	}
	for _, d := range digests {
		for _, tagOf := range []func(name.Reference, ...ociremote.Option) (name.Tag, error){ociremote.SignatureTag, ociremote.AttestationTag, referrersTag} {
			tag, err := tagOf(d)
			if err != nil {
				return Snapshot{}, err
			}
			desc, err := remote.Get(tag, ropts...)
			switch {
			case err == nil:
				s.prev[tag.String()] = desc
			case push.IsNotFound(err):
			default:
				return Snapshot{}, fmt.Errorf("reading %s: %w", tag, err)
			}
			s.tags = append(s.tags, tag)
		}
	}
	return s, nil
}

// Restore puts back every recorded tag that still holds what this run
// wrote there (w, from Signer.Wrote): a tag that existed points where it
// did, one that did not is deleted (by tag, or, on registries that can't
// delete tags, by the digest it points at), and on a registry that
// refuses both (GHCR) it is emptied: it then lists no signature, no
// attestation, no referrer, as before the run, and is returned. A tag that
// holds anything else is another run's now (its signatures, added after
// this run's), and is left as it is: undoing it would delete them. Then
// each bundle this run attached that its subject still lists (the
// registry's referrers API lists every manifest naming it) is deleted. It
// says which it could not put back.
func (s Snapshot) Restore(w Written, ropts []remote.Option) (emptied []name.Tag, err error) {
	emptied, errs := s.restoreTags(w.Tags, ropts)
	for _, r := range w.Referrers {
		listed, err := remote.Referrers(r.Subject, ropts...)
		var im *v1.IndexManifest
		if err == nil {
			im, err = listed.IndexManifest()
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("reading the referrers of %s: %w", r.Subject, err))
			continue
		}
		if !slices.ContainsFunc(im.Manifests, func(m v1.Descriptor) bool { return m.Digest == r.Manifest }) {
			continue
		}
		if err := remote.Delete(r.Subject.Context().Digest(r.Manifest.String()), ropts...); err != nil {
			errs = append(errs, fmt.Errorf("the bundle %s attached to %s was written and the registry refused to delete it: delete it by hand", r.Manifest, r.Subject))
		}
	}
	return emptied, errors.Join(errs...)
}

// emptyTag writes to tag what lists nothing: a cosign signature or
// attestation tag gets a manifest with no layers (no signatures), the
// referrers tag an index with no manifests.
func emptyTag(tag name.Tag, ropts []remote.Option) error {
	if strings.HasSuffix(tag.TagStr(), ".sig") || strings.HasSuffix(tag.TagStr(), ".att") {
		return remote.Write(tag, empty.Signatures(), ropts...)
	}
	return remote.WriteIndex(tag, mutate.IndexMediaType(ggempty.Index, types.OCIImageIndex), ropts...)
}

func (s Snapshot) restoreTags(wrote map[string]v1.Hash, ropts []remote.Option) (emptied []name.Tag, errs []error) {
	for _, tag := range s.tags {
		mine, ok := wrote[tag.String()]
		if !ok {
			continue // this run never wrote it
		}
		now, err := remote.Head(tag, ropts...)
		if push.IsNotFound(err) {
			if s.prev[tag.String()] != nil {
				errs = append(errs, fmt.Errorf("%s is gone; it pointed at %s", tag, s.prev[tag.String()].Digest))
			}
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("reading %s: %w", tag, err))
			continue
		}
		if now.Digest != mine {
			continue // another run wrote it since
		}
		if p := s.prev[tag.String()]; p != nil {
			if p.Digest != now.Digest {
				if err := remote.Tag(tag, p, ropts...); err != nil {
					errs = append(errs, fmt.Errorf("restoring %s to %s: %w", tag, p.Digest, err))
				}
			}
			continue
		}
		if err := remote.Delete(tag, ropts...); err == nil {
			continue
		}
		if err := remote.Delete(tag.Context().Digest(now.Digest.String()), ropts...); err == nil {
			continue
		}
		if err := emptyTag(tag, ropts); err != nil {
			errs = append(errs, fmt.Errorf("%s was written and the registry refused to delete it, and emptying it failed (%v): delete it by hand", tag, err))
			continue
		}
		emptied = append(emptied, tag)
	}
	return emptied, errs
}
