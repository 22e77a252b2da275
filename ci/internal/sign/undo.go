package sign

import (
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"

	"github.com/gantry-ci/gantry/ci/internal/push"
)

// Snapshot is what cosign's signature and attestation tags of some
// digests point at before a publish signs them, so that a failed publish
// can put them back and leave no tag behind.
type Snapshot struct {
	tags []name.Tag
	prev map[string]*remote.Descriptor // by tag; nil: the tag did not exist
}

// Take records the signature and attestation tags of each digest.
func Take(digests []name.Digest, ropts []remote.Option) (Snapshot, error) {
	s := Snapshot{prev: map[string]*remote.Descriptor{}}
	for _, d := range digests {
		for _, tagOf := range []func(name.Reference, ...ociremote.Option) (name.Tag, error){ociremote.SignatureTag, ociremote.AttestationTag} {
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

// Restore puts every recorded tag back: a tag that existed points where it
// did, one that did not is deleted (by tag, or, on registries that can't
// delete tags, by the digest it points at). It says which it could not.
func (s Snapshot) Restore(ropts []remote.Option) error {
	var errs []error
	for _, tag := range s.tags {
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
	return errors.Join(errs...)
}
