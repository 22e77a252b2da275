package push

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
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
		tagged, want, ok := strings.Cut(r, "@")
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
