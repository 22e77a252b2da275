package push

import (
	"context"
	"fmt"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/gantry-ci/gantry/ci/internal/imageref"
)

// Digest reads, anonymously, the digest ref (repository:tag) points at now.
func Digest(ctx context.Context, ref string, insecure bool) (string, error) {
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	r, err := name.ParseReference(ref, opts...)
	if err != nil {
		return "", fmt.Errorf("parsing %q: %w", ref, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	d, err := remote.Head(r, remote.WithContext(ctx), remote.WithTransport(NewTransport(10*time.Second)))
	if err != nil {
		return "", err
	}
	return d.Digest.String(), nil
}

// Current checks, anonymously, that every ref (repository:tag@digest, as
// Result.Refs lists them) still resolves to its digest. insecure reports
// whether the ref's registry is spoken to over plain HTTP.
func Current(ctx context.Context, refs []string, insecure func(ref string) bool) error {
	if len(refs) == 0 {
		return fmt.Errorf("no published refs to check")
	}
	for _, r := range refs {
		tagged, want, ok := imageref.Split(r)
		if !ok {
			return fmt.Errorf("%q is not repository:tag@digest", r)
		}
		got, err := Digest(ctx, tagged, insecure(tagged))
		if err != nil {
			return fmt.Errorf("reading %s: %w", tagged, err)
		}
		if got != want {
			return fmt.Errorf("%s points at %s now, not %s", tagged, got, want)
		}
	}
	return nil
}

// RevisionLabel is the OCI label holding the commit an image was built from.
const RevisionLabel = "org.opencontainers.image.revision"

// Revision reads the commit that repository:tag was built from, from its
// image config's revision label (for an index, its first image's). A tag
// that doesn't exist yet, or carries no label, gives "".
func Revision(ctx context.Context, req Request, tag string) (string, error) {
	repo, ropts, err := req.remote()
	if err != nil {
		return "", err
	}
	ref := repo.Tag(tag)
	desc, err := remote.Get(ref, ropts(ctx)...)
	if IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", ref, err)
	}
	var img v1.Image
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return "", fmt.Errorf("reading %s: %w", ref, err)
		}
		im, err := idx.IndexManifest()
		if err != nil || len(im.Manifests) == 0 {
			return "", fmt.Errorf("reading %s: an index without images (%v)", ref, err)
		}
		if img, err = idx.Image(im.Manifests[0].Digest); err != nil {
			return "", fmt.Errorf("reading %s: %w", ref, err)
		}
	} else if img, err = desc.Image(); err != nil {
		return "", fmt.Errorf("reading %s: %w", ref, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return "", fmt.Errorf("reading the config of %s: %w", ref, err)
	}
	return cf.Config.Labels[RevisionLabel], nil
}
