package push

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Current checks, anonymously, that every ref (repository:tag@digest, as
// Result.Refs lists them) still resolves to its digest. insecure reports
// whether the ref's registry is spoken to over plain HTTP.
func Current(ctx context.Context, refs []string, insecure func(ref string) bool) error {
	if len(refs) == 0 {
		return fmt.Errorf("no published refs to check")
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for _, r := range refs {
		tagged, want, ok := strings.Cut(r, "@")
		if !ok {
			return fmt.Errorf("%q is not repository:tag@digest", r)
		}
		var opts []name.Option
		if insecure(tagged) {
			opts = append(opts, name.Insecure)
		}
		tag, err := name.NewTag(tagged, opts...)
		if err != nil {
			return fmt.Errorf("parsing %q: %w", tagged, err)
		}
		d, err := remote.Head(tag, remote.WithContext(ctx))
		if err != nil {
			return fmt.Errorf("reading %s: %w", tag, err)
		}
		if d.Digest.String() != want {
			return fmt.Errorf("%s points at %s now, not %s", tag, d.Digest, want)
		}
	}
	return nil
}
