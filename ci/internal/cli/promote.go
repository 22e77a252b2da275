package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/gantry-ci/gantry/ci/internal/options"
	"github.com/gantry-ci/gantry/ci/internal/pipeline"
	"github.com/gantry-ci/gantry/ci/internal/verify"
)

// promotion decides whether this run releases the digest already published
// under the commit's SHA tag instead of rebuilding it: on a signed release,
// if that image's signatures verify for this run's signer (its key, or
// keylessly its workflow) and its provenance names this repository and
// commit, and it holds the platforms this run would build. Otherwise it says why not, and the full
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
	signer, keyless, why := promotionSigner(in)
	if why != "" {
		return no("%s", why)
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
	vin := pipeline.VerifyInput{Image: image, Keyless: keyless, Repository: repo,
		Commit: in.sha, Severity: o.Severity, Username: o.Username, Token: p.Publish.Token, Publisher: bin}
	if in.sign.Key != nil {
		vin.PublicKey = in.sign.Key.Public
	}
	rep, err := pipeline.Verify(ctx, env, vin)
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
	fmt.Fprintf(out, "gantry: %s is signed by %s and its provenance names %s: releasing that digest, %s, instead of rebuilding\n",
		image, signer, in.sha, rep.Digest)
	return pipeline.Promotion{Digest: rep.Digest, Platforms: rep.Platforms, Built: *rep.Built}, true
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// promotionSigner is who must have signed the image a release promotes,
// in words and, when keyless, as a policy; or why nobody can be.
//
// Keyless, that is the workflow file this run is, at any ref (main signed
// it; a tag releases it), under the issuer of this run's token. The
// roots are Sigstore's public ones (TUF, in the engine), or --ca-roots for
// a private Fulcio; without Rekor (--rekor-url off) nothing proves when a
// signature was made, so it verifies only while its certificate is valid.
func promotionSigner(in *inputs) (signer string, keyless *verify.Keyless, why string) {
	if in.sign.Key != nil {
		return "this key", nil, ""
	}
	k := in.sign.Keyless
	pattern, err := k.Claims.SameWorkflow()
	if err != nil {
		return "", nil, err.Error()
	}
	o := in.opts
	if o.FulcioURL != options.DefaultFulcioURL && len(o.Roots) == 0 {
		return "", nil, "it would verify against " + o.FulcioURL + "'s roots, and none were given: pass them with --ca-roots FILE"
	}
	workflow, _, _ := strings.Cut(k.Claims.JobWorkflowRef, "@")
	return "workflow " + workflow, &verify.Keyless{IdentityRegexp: pattern, Issuer: k.Claims.Issuer, Roots: o.Roots,
		IgnoreSCT: o.IgnoreSCT, IgnoreTlog: k.RekorURL == ""}, ""
}
