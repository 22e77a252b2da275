package push

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/mod/semver"

	"github.com/gantry-ci/gantry/ci/internal/tags"
)

// AliasVersion reads which release the alias (1.5, 1) of the repository
// points at now, its tags in flavor (v1.5-alpine): the highest release of
// its line whose tag has the alias's digest. An image's version label
// can't say, since a promoted release keeps the label its build on the
// default branch gave it. It returns the release's tag without the flavor
// (1.5.2), or "" if the alias does not exist or no release tag shares its
// digest.
func AliasVersion(ctx context.Context, req Request, alias string, flavor tags.Flavor) (string, error) {
	if !tags.Alias(alias) {
		return "", fmt.Errorf("%q is not a release alias (MAJOR or MAJOR.MINOR)", alias)
	}
	repo, ropts, err := req.remote()
	if err != nil {
		return "", err
	}
	at, err := remote.Head(repo.Tag(flavor.Tag(alias)), ropts(ctx)...)
	if IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading %s:%s: %w", req.Repository, flavor.Tag(alias), err)
	}
	all, err := remote.List(repo, ropts(ctx)...)
	if err != nil {
		return "", fmt.Errorf("listing the tags of %s: %w", req.Repository, err)
	}
	var line []string // release names, without the flavor
	for _, t := range all {
		if name, ok := flavor.Name(t); ok && tags.InLine(name, alias) {
			line = append(line, name)
		}
	}
	// Highest first: the first with the alias's digest is the answer.
	slices.SortFunc(line, func(a, b string) int { return semver.Compare(tags.Semver(b), tags.Semver(a)) })
	for _, t := range line {
		d, err := remote.Head(repo.Tag(flavor.Tag(t)), ropts(ctx)...)
		if IsNotFound(err) {
			continue // deleted since the listing
		}
		if err != nil {
			return "", fmt.Errorf("reading %s:%s: %w", req.Repository, flavor.Tag(t), err)
		}
		if d.Digest == at.Digest {
			return t, nil
		}
	}
	return "", nil
}
