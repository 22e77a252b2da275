// Package push publishes an image to a registry as one transaction: the
// manifest is written once by digest, then every tag is pointed at it; if a
// tag can't be written, the tags already moved are put back (or the new
// manifest deleted), so a failed publish leaves no partial tag set. Transient
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
	Log        io.Writer
}

// DefaultBackoff retries for about 8 seconds: 0.5 s, 1 s, 2 s, 4 s.
var DefaultBackoff = remote.Backoff{Duration: 500 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 5, Cap: 8 * time.Second}

// retryCodes are the transient HTTP statuses; 4xx other than 408/429 are final.
var retryCodes = []int{http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
	http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}

// Result is what was published.
type Result struct {
	Digest string   `json:"digest"`
	Refs   []string `json:"refs"` // repository:tag@digest, in tag order
}

// Publish pushes a and points every tag at it.
func Publish(ctx context.Context, req Request, a Artifact) (Result, error) {
	if len(req.Tags) == 0 {
		return Result{}, errors.New("no tags to publish")
	}
	opts := []name.Option{name.StrictValidation}
	if req.Insecure {
		opts = append(opts, name.Insecure)
	}
	repo, err := name.NewRepository(req.Repository, opts...)
	if err != nil {
		return Result{}, fmt.Errorf("parsing repository %q: %w", req.Repository, err)
	}
	backoff := req.Backoff
	if backoff.Steps == 0 {
		backoff = DefaultBackoff
	}
	auth := req.Auth
	if auth == nil {
		auth = authn.Anonymous
	}
	ropts := []remote.Option{remote.WithContext(ctx), remote.WithAuth(auth),
		remote.WithRetryBackoff(backoff), remote.WithRetryStatusCodes(retryCodes...)}
	logf := func(format string, args ...any) {
		if req.Log != nil {
			fmt.Fprintf(req.Log, format+"\n", args...)
		}
	}

	digest, err := a.Digest()
	if err != nil {
		return Result{}, fmt.Errorf("computing digest: %w", err)
	}
	byDigest := repo.Digest(digest.String())

	// Remember what each tag points at now, so a failure can put it back.
	prev := make([]*remote.Descriptor, len(req.Tags))
	for i, t := range req.Tags {
		d, err := remote.Get(repo.Tag(t), ropts...)
		switch {
		case err == nil:
			prev[i] = d
		case isNotFound(err):
		default:
			return Result{}, fmt.Errorf("reading current %s: %w", repo.Tag(t), err)
		}
	}

	logf("pushing %s", byDigest)
	if idx, ok := a.(v1.ImageIndex); ok {
		err = remote.WriteIndex(byDigest, idx, ropts...)
	} else {
		err = remote.Write(byDigest, a.(v1.Image), ropts...)
	}
	if err != nil {
		return Result{}, fmt.Errorf("pushing %s: %w", byDigest, err)
	}

	res := Result{Digest: digest.String()}
	for i, t := range req.Tags {
		tag := repo.Tag(t)
		if err := remote.Tag(tag, a, ropts...); err != nil {
			err = fmt.Errorf("tagging %s: %w", tag, err)
			if rb := rollback(repo, req.Tags[:i], prev[:i], digest, ropts); rb != nil {
				return Result{}, errors.Join(err, rb)
			}
			return Result{}, fmt.Errorf("%w (tags already written were rolled back)", err)
		}
		res.Refs = append(res.Refs, fmt.Sprintf("%s@%s", tag, digest))
		logf("tagged %s@%s", tag, digest)
	}

	// Every tag must resolve to the digest just pushed.
	for _, t := range req.Tags {
		d, err := remote.Head(repo.Tag(t), ropts...)
		if err != nil {
			return Result{}, fmt.Errorf("verifying %s: %w", repo.Tag(t), err)
		}
		if d.Digest != digest {
			return Result{}, fmt.Errorf("verifying %s: points at %s, want %s (another push raced this one?)", repo.Tag(t), d.Digest, digest)
		}
	}
	return res, nil
}

// rollback restores tags to what they pointed at before this publish. A tag
// that did not exist is deleted; registries that can't delete by tag
// (Distribution 2.x) lose it when the new manifest is deleted by digest,
// which is safe only if no tag pointed at that manifest before.
func rollback(repo name.Repository, tags []string, prev []*remote.Descriptor, digest v1.Hash, ropts []remote.Option) error {
	var errs []error
	var created []string
	for i, t := range tags {
		switch {
		case prev[i] == nil:
			created = append(created, t)
		case prev[i].Digest == digest:
			// unchanged
		default:
			if err := remote.Tag(repo.Tag(t), prev[i], ropts...); err != nil {
				errs = append(errs, fmt.Errorf("restoring %s to %s: %w", repo.Tag(t), prev[i].Digest, err))
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
			shared = shared || (p != nil && p.Digest == digest)
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

func isNotFound(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound
}
