package sign

import (
	"errors"
	"fmt"
	"slices"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
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
// delete tags, by the digest it points at). A tag that holds anything else
// is another run's now (its signatures, added after this run's), and is
// left as it is: undoing it would delete them. Then each bundle this run
// attached that its subject still lists (the registry's referrers API
// lists every manifest naming it) is deleted. It says which it could not
// put back.
func (s Snapshot) Restore(w Written, ropts []remote.Option) error {
	errs := s.restoreTags(w.Tags, ropts)
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
	return errors.Join(errs...)
}

func (s Snapshot) restoreTags(wrote map[string]v1.Hash, ropts []remote.Option) []error {
	var errs []error
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
		if err := remote.Delete(tag, ropts...); err != nil {
			if err := remote.Delete(tag.Context().Digest(now.Digest.String()), ropts...); err != nil {
				errs = append(errs, fmt.Errorf("%s was written and the registry refused to delete it: delete it by hand", tag))
			}
		}
	}
	return errs
}
