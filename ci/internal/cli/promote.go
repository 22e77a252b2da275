package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/gantry-ci/gantry/ci/internal/pipeline"
)

// promotion decides whether this run releases the digest already published
// under the commit's SHA tag instead of rebuilding it: on a release tag,
// when signing with a key, if that image's signatures verify with this key
// and its provenance names this repository and commit, and it holds the
// platforms this run would build. Otherwise it says why not, and the full
// pipeline runs. --rerun always rebuilds.
func promotion(ctx context.Context, env pipeline.Env, in *inputs, p pipeline.Plan, out io.Writer) (pipeline.Promotion, bool) {
	o := in.opts
	if p.SkipPublish != "" || in.sign.Key == nil && in.sign.Keyless == nil || o.Rerun || !strings.HasPrefix(in.ref, "refs/tags/") || in.tags.Version == in.sha[:12] {
		return pipeline.Promotion{}, false
	}
	image := p.Publish.Repository + ":" + in.sha
	no := func(format string, args ...any) (pipeline.Promotion, bool) {
		fmt.Fprintf(out, "gantry: not promoting %s: %s; running the full pipeline\n", image, fmt.Sprintf(format, args...))
		return pipeline.Promotion{}, false
	}
	if in.sign.Key == nil {
		return no("promotion verifies the image with a signing key, and keyless promotion is not built yet")
	}
	platform, err := env.Client.DefaultPlatform(ctx)
	if err != nil {
		return no("asking the engine for its platform: %v", err)
	}
	bin, err := p.Publisher(ctx, platform)
	if err != nil {
		return no("%v", err)
	}
	repo := ""
	if o.Repository != "" {
		repo = "https://github.com/" + o.Repository
	}
	rep, err := pipeline.Verify(ctx, env, pipeline.VerifyInput{Image: image, PublicKey: in.sign.Key.Public, Repository: repo,
		Commit: in.sha, Severity: o.Severity, Username: o.Username, Token: p.Publish.Token, Publisher: bin})
	switch {
	case err != nil:
		return no("%v", firstLine(err.Error()))
	case !rep.Passed("signature"):
		return no("%s", rep.Detail("signature"))
	case !rep.Passed("provenance"):
		return no("%s", rep.Detail("provenance"))
	case rep.Built == nil:
		return no("its provenance says nothing of the build")
	}
	have := slices.Clone(rep.Platforms)
	want := slices.Clone(o.Platforms)
	slices.Sort(have)
	slices.Sort(want)
	if !slices.Equal(have, want) {
		return no("it holds %s, this run builds %s", strings.Join(have, ","), strings.Join(want, ","))
	}
	fmt.Fprintf(out, "gantry: %s is signed by this key and its provenance names %s: releasing that digest, %s, instead of rebuilding\n",
		image, in.sha, rep.Digest)
	return pipeline.Promotion{Digest: rep.Digest, Platforms: rep.Platforms, Built: *rep.Built}, true
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
