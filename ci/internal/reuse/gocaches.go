package reuse

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/gantry-ci/gantry/ci/internal/pipeline"
	"github.com/gantry-ci/gantry/ci/internal/push"
	"github.com/gantry-ci/gantry/ci/internal/runplan"
)

// GoCaches decides where the test stage's Go caches come from and go to,
// next to the layer cache (none without one). A run that publishes starts
// only from the caches that the signed provenance of its nearest published
// first parent names, verified for this run's signer as a release's image
// is: the tag they were pushed under could have been moved by anyone who
// can push to the package, a digest in a signed record can't. It pushes
// its own. A run that publishes nothing (a pull request, a dry run) starts
// from what the tags hold, as it reads the layer cache, and pushes
// nothing: it has no output anyone trusts (docs/security.md).
func GoCaches(env pipeline.Env, in *runplan.Run, p pipeline.Plan) pipeline.GoCaches {
	base := in.Opts.LayerCache
	if base == "off" || len(p.Test.Modules) == 0 {
		return pipeline.GoCaches{}
	}
	tag, err := name.NewTag(base)
	if err != nil {
		return pipeline.GoCaches{} // validated with the options
	}
	insecure := in.Images.Insecure(tag.RegistryStr())
	if p.SkipPublish != "" {
		return pipeline.GoCaches{From: func(ctx context.Context) (map[string]string, string) {
			return fromTags(ctx, p.Test.Modules, base, insecure)
		}}
	}
	return pipeline.GoCaches{Push: base, Username: in.Opts.Username, Token: p.Publish.Token, Insecure: insecure,
		From: func(ctx context.Context) (map[string]string, string) {
			return fromRecord(ctx, env, in, p)
		}}
}

// fromTags resolves each module's caches tag to its digest.
func fromTags(ctx context.Context, modules []pipeline.Module, base string, insecure bool) (map[string]string, string) {
	found := map[string]string{}
	var refs []string
	for _, m := range modules {
		ref := pipeline.CachesTag(base, m.Dir)
		d, err := push.Digest(ctx, ref, insecure)
		if err != nil {
			continue // absent, or not readable anonymously: cold
		}
		tag, _ := name.NewTag(ref)
		found[m.Dir] = tag.Context().Name() + "@" + d
		refs = append(refs, ref)
	}
	if len(found) == 0 {
		return nil, "cold: none under " + pipeline.CachesTag(base, "DIR")
	}
	return found, fmt.Sprintf("from %s, as tagged (not verified: this run publishes nothing)", strings.Join(refs, ", "))
}

// fromRecord takes the caches that the signed provenance of the nearest
// first parent with an image under its SHA tag names.
func fromRecord(ctx context.Context, env pipeline.Env, in *runplan.Run, p pipeline.Plan) (map[string]string, string) {
	if !signedPublish(in, p) {
		return nil, "cold: only a signed run can trust an earlier run's caches"
	}
	for _, sha := range in.Ancestors {
		s := findSealed(ctx, env, in, p, sha)
		switch {
		case s.absent:
			continue
		case s.why != "":
			return nil, fmt.Sprintf("cold: not from %s: %s", s.image, s.why)
		case len(s.rep.Built.GoCaches) == 0:
			return nil, fmt.Sprintf("cold: the signed provenance of %s names no Go caches", s.image)
		}
		return s.rep.Built.GoCaches, fmt.Sprintf("from those the signed provenance of %s@%s names", s.image, s.rep.Digest)
	}
	if len(in.Ancestors) == 0 {
		return nil, "cold: the commit has no parent here (a shallow clone? fetch-depth: 0 gives the history)"
	}
	return nil, fmt.Sprintf("cold: none of the commit's last %d first parents has an image under its SHA tag", len(in.Ancestors))
}
