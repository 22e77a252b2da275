// Package reuse decides whether a run can reuse an earlier one instead of
// running every stage: a passed run with the same key in the local run
// cache, the registry's signed record of this commit (the run record), or,
// for a release, the tested digest to promote. Each is trusted only as far
// as a check here vouches for it.
package reuse

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/gantry-ci/gantry/ci/internal/options"
	"github.com/gantry-ci/gantry/ci/internal/pipeline"
	"github.com/gantry-ci/gantry/ci/internal/push"
	"github.com/gantry-ci/gantry/ci/internal/runplan"
	"github.com/gantry-ci/gantry/ci/internal/summary"
	"github.com/gantry-ci/gantry/ci/internal/verify"
)

// Sealed is what the registry holds for this commit: the image under its
// SHA tag, verified in the engine (as `go run ./ci verify` does) for this
// run's signer, repository and commit. It is the run record a fresh
// runner can trust, and what a release promotes.
type Sealed struct {
	image  string        // repository:SHA
	signer string        // who must have signed it, in words
	rep    verify.Report // when why == ""
	why    string        // why nothing there verifies; "" when it did
	absent bool          // nothing is under the SHA tag
}

// FindSealed verifies the image under the commit's SHA tag, once, for
// both uses. Only a signed publish looks (nothing else could trust what
// it found), and --rerun never does. ok is false when it did not look.
func FindSealed(ctx context.Context, env pipeline.Env, in *runplan.Run, p pipeline.Plan) (s Sealed, ok bool) {
	if !signedPublish(in, p) || in.Opts.Rerun {
		return Sealed{}, false
	}
	return findSealed(ctx, env, in, p, in.SHA), true
}

// signedPublish reports whether the run publishes and signs: only such a
// run trusts a signed record, since only it can say who must have signed.
func signedPublish(in *runplan.Run, p pipeline.Plan) bool {
	return p.SkipPublish == "" && (in.Sign.Key != nil || in.Sign.Keyless != nil)
}

// findSealed verifies the image under commit sha's SHA tag for this run's
// signer.
func findSealed(ctx context.Context, env pipeline.Env, in *runplan.Run, p pipeline.Plan, sha string) (s Sealed) {
	o := in.Opts
	s.image = p.Publish.Repository + ":" + sha
	// A first run of a commit finds nothing there: say so without compiling
	// the publisher. The registry may refuse to answer anonymously (a
	// private image); then the engine, with the token, finds out.
	if _, err := push.Digest(ctx, s.image, in.Images.Insecure(s.image)); push.IsNotFound(err) {
		s.absent, s.why = true, "there is no image under its SHA tag"
		return s
	}
	var keyless *verify.Keyless
	if s.signer, keyless, s.why = signerOf(in, sha); s.why != "" {
		return s
	}
	platform, err := env.Client.DefaultPlatform(ctx)
	if err != nil {
		s.why = fmt.Sprintf("asking the engine for its platform: %v", err)
		return s
	}
	bin, err := p.Publisher(ctx, platform)
	if err != nil {
		s.why = err.Error()
		return s
	}
	repo := ""
	if o.Repository != "" {
		repo = "https://github.com/" + o.Repository
	}
	vin := pipeline.VerifyInput{Image: s.image, Keyless: keyless, Repository: repo,
		Commit: sha, Severity: o.Severity, Username: o.Username, Token: p.Publish.Token, Publisher: bin}
	if in.Sign.Key != nil {
		vin.PublicKey = in.Sign.Key.Public
	}
	rep, err := pipeline.Verify(ctx, env, vin)
	s.judge(rep, err)
	return s
}

// judge takes the verified image as the commit's record, or says why not.
func (s *Sealed) judge(rep verify.Report, err error) {
	switch {
	case err != nil:
		s.why = firstLine(err.Error())
	case !rep.Passed("signature"):
		s.why = rep.Detail("signature")
	case !rep.Passed("provenance"):
		s.why = rep.Detail("provenance")
	case rep.Built == nil:
		s.why = "its provenance says nothing of the build"
	case rep.Built.Dirty:
		// Its signed record says its files were not the commit's.
		s.why = "it was built from a work tree with uncommitted changes (--allow-dirty)"
	default:
		s.rep = rep
	}
}

// Recorded returns the summary of the run the sealed image records, when
// that run had this run's key (every input the same, the signer too) and
// every tag this run would write still points at its digest: a run on
// any runner then has nothing to do. A record that is unsigned, signed by
// anyone else or for another commit never gets here (s.why is set).
func Recorded(ctx context.Context, in *runplan.Run, s Sealed, out io.Writer) (summary.Summary, bool) {
	if s.why != "" || in.Key == "" {
		if s.why != "" && !s.absent && !IsRelease(in) {
			fmt.Fprintf(out, "gantry: no run record in %s: %s; running every stage\n", s.image, s.why)
		}
		return summary.Summary{}, false
	}
	b := s.rep.Built
	if b.RunKey != in.Key {
		if !IsRelease(in) { // a release has a key of its own: Promotion decides
			fmt.Fprintf(out, "gantry: %s is signed, but was built from other inputs than this run's; running every stage\n", s.image)
		}
		return summary.Summary{}, false
	}
	var refs []string
	for _, t := range in.Tags.Tags {
		refs = append(refs, in.Opts.Registry+"/"+in.Opts.Image+":"+t+"@"+s.rep.Digest)
	}
	if err := push.Current(ctx, refs, in.Images.Insecure); err != nil {
		fmt.Fprintf(out, "gantry: the signed record of %s says these inputs passed at %s, but its tags moved since (%v); running every stage\n",
			s.image, b.Finished.UTC().Format(time.RFC3339), err)
		return summary.Summary{}, false
	}
	passed := "passed " + b.Finished.UTC().Format(time.RFC3339) + " (signed run record)"
	sum := summary.Summary{Image: runplan.ImageName(in.Opts), Gating: in.Opts.Severity, Digest: s.rep.Digest, Refs: refs,
		Signing: fmt.Sprintf("Signed when it was built, by %s; the signature and provenance verify now.", s.signer)}
	for _, st := range []string{"test", "build", "smoke", "scan", "publish"} {
		sum.Stages = append(sum.Stages, summary.Stage{Name: st, Status: "cached", Detail: passed})
	}
	fmt.Fprintf(out, "gantry: cached: the signed provenance of %s@%s records these exact inputs passing every stage at %s, on %s (--rerun runs them again)\n",
		s.image, s.rep.Digest, b.Finished.UTC().Format(time.RFC3339), b.Builder)
	return sum, true
}

// IsRelease reports whether this run is a release: a tag push, whose
// version is not the commit's short SHA.
func IsRelease(in *runplan.Run) bool {
	return strings.HasPrefix(in.Ref, "refs/tags/") && in.Tags.Version != in.SHA[:12]
}

// Promotion decides whether this release publishes the sealed image
// instead of rebuilding it: when it verified for this run's signer (its
// key, or keylessly its workflow), its provenance names this repository
// and commit, and it holds the platforms this run would build. Otherwise
// it says why not, and the full pipeline runs.
func Promotion(in *runplan.Run, s Sealed, out io.Writer) (pipeline.Promotion, bool) {
	no := func(format string, args ...any) (pipeline.Promotion, bool) {
		fmt.Fprintf(out, "gantry: not promoting %s: %s; running the full pipeline\n", s.image, fmt.Sprintf(format, args...))
		return pipeline.Promotion{}, false
	}
	if s.why != "" {
		return no("%s", s.why)
	}
	rep := s.rep
	have := slices.Clone(rep.Platforms)
	want := slices.Clone(in.Opts.Platforms)
	slices.Sort(have)
	slices.Sort(want)
	if !slices.Equal(have, want) {
		return no("it holds %s, this run builds %s", strings.Join(have, ","), strings.Join(want, ","))
	}
	fmt.Fprintf(out, "gantry: %s is signed by %s and its provenance names %s: releasing that digest, %s, instead of rebuilding\n",
		s.image, s.signer, in.SHA, rep.Digest)
	return pipeline.Promotion{Digest: rep.Digest, Platforms: rep.Platforms, Built: *rep.Built}, true
}

// signerOf is who must have signed the image of commit sha (the image a
// release promotes, the commit's run record, a parent's Go caches), in
// words and, when keyless, as a policy; or why nobody can be.
//
// Keyless, that is the workflow file this run is, of this repository (by
// name and ID), run by a push to the default branch or a release tag (main
// signed it; a tag releases it) for that commit, under the issuer of this
// run's token, as the certificate says: a pull request's or a branch's
// signature never counts, whatever its provenance claims. The
// roots are Sigstore's public ones (TUF, in the engine), or --ca-roots for
// a private Fulcio, with --rekor-key for its Rekor; without Rekor
// (--rekor-url off) nothing proves when a signature was made, so it
// verifies only while its certificate is valid.
func signerOf(in *runplan.Run, sha string) (signer string, keyless *verify.Keyless, why string) {
	if in.Sign.Key != nil {
		return "this key", nil, ""
	}
	k := in.Sign.Keyless
	policy, err := k.Claims.Release(in.Opts.DefaultBranch)
	if err != nil {
		return "", nil, err.Error()
	}
	// The certificate must vouch for this very commit, whatever the
	// provenance claims.
	policy.SHA = sha
	o := in.Opts
	if o.FulcioURL != options.DefaultFulcioURL && len(o.Roots) == 0 {
		return "", nil, "it would verify against " + o.FulcioURL + "'s roots, and none were given: pass them with --ca-roots FILE"
	}
	if len(o.Roots) > 0 && k.RekorURL != "" && len(o.RekorKey) == 0 {
		return "", nil, "its signatures are in " + k.RekorURL + ", whose key was not given: pass it with --rekor-key FILE"
	}
	return "workflow " + policy.Workflow + " of " + policy.Repository, &verify.Keyless{Policy: policy, Roots: o.Roots,
		IgnoreSCT: o.IgnoreSCT, IgnoreTlog: k.RekorURL == "", RekorKey: o.RekorKey}, ""
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
