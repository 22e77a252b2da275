// Package push publishes an image to a registry as one transaction: the
// manifest is written once by digest, then every tag is pointed at it and
// checked; if a tag can't be written or checked, the tags this publish moved
// are put back (or the new manifest deleted), unless another run has moved
// them since, so a failed publish leaves no partial tag set of its own. Transient
// registry errors are retried with bounded exponential backoff; 4xx answers
// (bad credentials, denied) are not.
package push

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Request says where to publish.
type Request struct {
	Repository string   // registry/name, e.g. ghcr.io/owner/app
	Tags       []string // at least one; written in this order
	Insecure   bool     // plain HTTP
	Auth       authn.Authenticator
	Backoff    remote.Backoff // zero: DefaultBackoff
	// Transport for every request; nil: NewTransport(ResponseTimeout).
	Transport http.RoundTripper
	Log       io.Writer
	// Seal, when set, runs once the image is pushed by digest and before
	// any tag is written: it signs and attests. If it fails, no tag moves.
	// It gets the pushed digest first, then each platform manifest's.
	Seal func(ctx context.Context, digests []name.Digest, ropts []remote.Option) error
}

// DefaultBackoff retries for about 8 seconds: 0.5 s, 1 s, 2 s, 4 s.
var DefaultBackoff = remote.Backoff{Duration: 500 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 5, Cap: 8 * time.Second}

// retryCodes are the transient HTTP statuses; 4xx other than 408/429 are final.
var retryCodes = []int{http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
	http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}

// Result is what was published.
type Result struct {
	Digest string `json:"digest"`
	// ImageID is the image's ID as docker/build-push-action reports it
	// (ImageID).
	ImageID string   `json:"imageId,omitempty"`
	Refs    []string `json:"refs"` // repository:tag@digest, in tag order
	// Signed lists the digests signed (the pushed one, then each platform
	// manifest's); Attestations the predicate types attested on Digest.
	Signed       []string `json:"signed,omitempty"`
	Attestations []string `json:"attestations,omitempty"`
	// Identity and Issuer are what a keyless signature's certificate
	// certifies: the signer (for GitHub Actions, the workflow file at a
	// ref) and its OIDC issuer.
	Identity string `json:"identity,omitempty"`
	Issuer   string `json:"issuer,omitempty"`
	// LogIndexes are the transparency log's entries of the signatures and
	// attestations (keyless), by index.
	LogIndexes []int64 `json:"logIndexes,omitempty"`
	// Held says why each tag the run would have moved stayed where it was
	// (latest, a release alias never moves back).
	Held []string `json:"held,omitempty"`
}

// remote resolves the request's repository and the options, for a given
// context, of every call to it.
func (req Request) remote() (name.Repository, func(context.Context) []remote.Option, error) {
	opts := []name.Option{name.StrictValidation}
	if req.Insecure {
		opts = append(opts, name.Insecure)
	}
	repo, err := name.NewRepository(req.Repository, opts...)
	if err != nil {
		return repo, nil, fmt.Errorf("parsing repository %q: %w", req.Repository, err)
	}
	backoff := req.Backoff
	if backoff.Steps == 0 {
		backoff = DefaultBackoff
	}
	auth := req.Auth
	if auth == nil {
		auth = authn.Anonymous
	}
	tr := req.Transport
	if tr == nil {
		tr = NewTransport(ResponseTimeout)
	}
	return repo, func(ctx context.Context) []remote.Option {
		return []remote.Option{remote.WithContext(ctx), remote.WithAuth(auth), remote.WithTransport(tr),
			remote.WithRetryBackoff(backoff), remote.WithRetryStatusCodes(retryCodes...)}
	}, nil
}

// Options are the remote options of every call to the request's
// repository (auth, transport, retries), for callers beyond this package.
func (req Request) Options(ctx context.Context) ([]remote.Option, error) {
	_, ropts, err := req.remote()
	if err != nil {
		return nil, err
	}
	return ropts(ctx), nil
}

// RollbackTimeout bounds putting tags back after a failure. The rollback
// runs on a context of its own: a cancelled run (SIGTERM, a cancelled
// workflow) must still undo what it wrote.
const RollbackTimeout = 30 * time.Second

// Publish pushes a and points every tag at it. Tags that exist already are
// moved first, new ones last: a registry that can't delete tags (GHCR) can
// always have an existing tag put back, but not a new one taken away, so a
// failure should come before any new tag is written.
func Publish(ctx context.Context, req Request, a Artifact) (Result, error) {
	if len(req.Tags) == 0 {
		return Result{}, errors.New("no tags to publish")
	}
	repo, ropts, err := req.remote()
	if err != nil {
		return Result{}, err
	}

	// Remember what each tag points at now, so a failure can put it back.
	prev := map[string]*remote.Descriptor{}
	for _, t := range req.Tags {
		d, err := remote.Get(repo.Tag(t), ropts(ctx)...)
		switch {
		case err == nil:
			prev[t] = d
		case IsNotFound(err):
		default:
			return Result{}, fmt.Errorf("reading current %s: %w", repo.Tag(t), err)
		}
	}

	digest, err := pushAndSeal(ctx, req, repo, ropts, a)
	if err != nil {
		return Result{}, err
	}

	// fail undoes what this publish wrote, on a context of its own.
	var written []string
	fail := func(err error) (Result, error) {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), RollbackTimeout)
		defer cancel()
		if rb := rollback(repo, written, prev, digest, ropts(rctx)); rb != nil {
			return Result{}, errors.Join(err, rb)
		}
		return Result{}, fmt.Errorf("%w (tags already written were rolled back)", err)
	}
	for _, t := range writeOrder(req.Tags, prev) {
		tag := repo.Tag(t)
		if err := remote.Tag(tag, a, ropts(ctx)...); err != nil {
			return fail(fmt.Errorf("tagging %s: %w", tag, err))
		}
		written = append(written, t)
		req.logf("tagged %s@%s", tag, digest)
	}

	// Every tag must resolve to the digest just pushed.
	for _, t := range req.Tags {
		d, err := remote.Head(repo.Tag(t), ropts(ctx)...)
		if err != nil {
			return fail(fmt.Errorf("verifying %s: %w", repo.Tag(t), err))
		}
		if d.Digest != digest {
			return fail(fmt.Errorf("verifying %s: points at %s, want %s (another push raced this one?)", repo.Tag(t), d.Digest, digest))
		}
	}
	id, err := ImageID(a)
	if err != nil {
		return fail(err)
	}
	res := Result{Digest: digest.String(), ImageID: id}
	for _, t := range req.Tags {
		res.Refs = append(res.Refs, fmt.Sprintf("%s@%s", repo.Tag(t), digest))
	}
	return res, nil
}

// Stage pushes a by digest and seals it (req.Seal), and writes no tag: the
// caller checks the result first, then points the tags at the digest with
// Publish. A check that fails after Stage leaves every tag as it was.
func Stage(ctx context.Context, req Request, a Artifact) (Result, error) {
	if len(req.Tags) > 0 {
		return Result{}, errors.New("staging writes no tag: drop the tags")
	}
	repo, ropts, err := req.remote()
	if err != nil {
		return Result{}, err
	}
	digest, err := pushAndSeal(ctx, req, repo, ropts, a)
	if err != nil {
		return Result{}, err
	}
	id, err := ImageID(a)
	if err != nil {
		return Result{}, err
	}
	return Result{Digest: digest.String(), ImageID: id}, nil
}

// ImageID is what docker/build-push-action reports as imageid (buildx's
// image ID): an image's config digest, or an index's own digest.
func ImageID(a Artifact) (string, error) {
	if img, ok := a.(v1.Image); ok {
		h, err := img.ConfigName()
		if err != nil {
			return "", fmt.Errorf("reading the image's config digest: %w", err)
		}
		return h.String(), nil
	}
	h, err := a.Digest()
	if err != nil {
		return "", err
	}
	return h.String(), nil
}

// pushAndSeal pushes a by digest, then seals it; it writes no tag.
func pushAndSeal(ctx context.Context, req Request, repo name.Repository, ropts func(context.Context) []remote.Option, a Artifact) (v1.Hash, error) {
	digest, err := a.Digest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("computing digest: %w", err)
	}
	byDigest := repo.Digest(digest.String())
	req.logf("pushing %s", byDigest)
	if idx, ok := a.(v1.ImageIndex); ok {
		err = remote.WriteIndex(byDigest, idx, ropts(ctx)...)
	} else {
		err = remote.Write(byDigest, a.(v1.Image), ropts(ctx)...)
	}
	if err != nil {
		return v1.Hash{}, fmt.Errorf("pushing %s: %w", byDigest, err)
	}
	if req.Seal != nil {
		digests, err := manifests(byDigest, a)
		if err != nil {
			return v1.Hash{}, err
		}
		if err := req.Seal(ctx, digests, ropts(ctx)); err != nil {
			return v1.Hash{}, fmt.Errorf("%w (no tag was written)", err)
		}
	}
	return digest, nil
}

func (req Request) logf(format string, args ...any) {
	if req.Log != nil {
		fmt.Fprintf(req.Log, format+"\n", args...)
	}
}

// manifests names the pushed manifest and, for an index, each manifest in
// it.
func manifests(top name.Digest, a Artifact) ([]name.Digest, error) {
	out := []name.Digest{top}
	idx, ok := a.(v1.ImageIndex)
	if !ok {
		return out, nil
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading the index: %w", err)
	}
	for _, d := range im.Manifests {
		out = append(out, top.Context().Digest(d.Digest.String()))
	}
	return out, nil
}

// writeOrder puts the tags that exist first and the new ones last, each
// group in the order asked for.
func writeOrder(tags []string, prev map[string]*remote.Descriptor) []string {
	var existing, created []string
	for _, t := range tags {
		if prev[t] != nil {
			existing = append(existing, t)
		} else {
			created = append(created, t)
		}
	}
	return append(existing, created...)
}

// rollback puts the tags this publish wrote back where they were. A tag
// that no longer points at this publish's digest was moved by someone else
// since, and stays where it is. A tag that did not exist is deleted;
// registries that can't delete by tag (Distribution 2.x) lose it when the
// new manifest is deleted by digest, which is safe only if no tag pointed
// at that manifest before.
func rollback(repo name.Repository, written []string, prev map[string]*remote.Descriptor, digest v1.Hash, ropts []remote.Option) error {
	var errs []error
	var created []string
	for _, t := range written {
		d, err := remote.Head(repo.Tag(t), ropts...)
		if err != nil {
			errs = append(errs, fmt.Errorf("reading %s before putting it back: %w", repo.Tag(t), err))
			continue
		}
		if d.Digest != digest {
			continue // another run moved it since: not ours to undo
		}
		switch p := prev[t]; {
		case p == nil:
			created = append(created, t)
		case p.Digest == digest:
			// unchanged
		default:
			if err := remote.Tag(repo.Tag(t), p, ropts...); err != nil {
				errs = append(errs, fmt.Errorf("restoring %s to %s: %w", repo.Tag(t), p.Digest, err))
			}
		}
	}
	byTagFailed := false
	for _, t := range created {
		if err := remote.Delete(repo.Tag(t), ropts...); err != nil {
			byTagFailed = true
		}
	}
	if byTagFailed {
		shared := false
		for _, p := range prev {
			shared = shared || p.Digest == digest
		}
		if !shared {
			_ = remote.Delete(repo.Digest(digest.String()), ropts...)
		}
	}
	for _, t := range created {
		if d, err := remote.Head(repo.Tag(t), ropts...); err == nil && d.Digest == digest {
			errs = append(errs, fmt.Errorf("%s still points at %s: the registry refused to delete it; delete it by hand", repo.Tag(t), digest))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("rolling back: %w", errors.Join(errs...))
	}
	return nil
}

// IsNotFound reports whether a registry answered err with 404: no such
// tag, manifest or blob.
func IsNotFound(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound
}
