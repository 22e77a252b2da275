// Package check verifies a published image against a public key with
// cosign's verification (package sign): every digest signed, a Gantry
// provenance naming the expected repository and commit, and the newest
// scan attestation passing the verifier's gate.
package check

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	slsa1 "github.com/in-toto/in-toto-golang/in_toto/slsa_provenance/v1"
	"github.com/sigstore/cosign/v2/pkg/cosign/attestation"

	"github.com/gantry-ci/gantry/ci/cmd/internal/sign"
	"github.com/gantry-ci/gantry/ci/internal/attest"
	"github.com/gantry-ci/gantry/ci/internal/push"
	"github.com/gantry-ci/gantry/ci/internal/scanreport"
	"github.com/gantry-ci/gantry/ci/internal/verify"
)

// Image verifies ref (a tag or a digest). An error means the image could
// not be checked at all (unreachable, no such image); a failed check is a
// Report that is not OK.
func Image(ctx context.Context, ref name.Reference, v *sign.Verifier, exp verify.Expect, ropts []remote.Option) (verify.Report, error) {
	desc, err := remote.Get(ref, ropts...)
	if err != nil {
		return verify.Report{}, fmt.Errorf("reading %s: %w", ref, err)
	}
	top := ref.Context().Digest(desc.Digest.String())
	digests := []name.Digest{top}
	var platforms []string
	layers := map[string][]string{} // platform -> its image's layer diff IDs
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return verify.Report{}, fmt.Errorf("reading the index %s: %w", top, err)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return verify.Report{}, fmt.Errorf("reading the index %s: %w", top, err)
		}
		for _, m := range im.Manifests {
			digests = append(digests, ref.Context().Digest(m.Digest.String()))
			if m.Platform == nil {
				continue
			}
			p := platformOf(m.Platform.OS, m.Platform.Architecture, m.Platform.Variant)
			platforms = append(platforms, p)
			img, err := idx.Image(m.Digest)
			if err != nil {
				return verify.Report{}, fmt.Errorf("reading the %s image of %s: %w", p, top, err)
			}
			cf, err := img.ConfigFile()
			if err != nil {
				return verify.Report{}, fmt.Errorf("reading the config of the %s image of %s: %w", p, top, err)
			}
			layers[p] = diffIDs(cf)
		}
	} else {
		img, err := desc.Image()
		if err != nil {
			return verify.Report{}, fmt.Errorf("reading the image %s: %w", top, err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return verify.Report{}, fmt.Errorf("reading the config of %s: %w", top, err)
		}
		p := platformOf(cf.OS, cf.Architecture, cf.Variant)
		platforms = append(platforms, p)
		layers[p] = diffIDs(cf)
	}
	r := verify.Report{Digest: top.DigestStr(), Platforms: platforms}
	r.Checks = append(r.Checks, signatures(ctx, v, digests, ropts))

	sts, err := v.VerifyAttestations(ctx, top, ropts)
	if err != nil {
		r.Checks = append(r.Checks,
			verify.Check{Name: "provenance", Detail: "no attestation signed by " + v.Signer() + ": " + err.Error()},
			verify.Check{Name: "scan", Detail: "no attestation signed by " + v.Signer()})
		return r, nil
	}
	prov, built := provenance(sts, exp)
	r.Checks = append(r.Checks, prov)
	r.Built = built
	r.Checks = append(r.Checks, scan(sts, exp, layers))
	if t, ok := ref.(name.Tag); ok {
		r.Checks = append(r.Checks, tagged(sts, t))
	}
	return r, nil
}

// tagged passes when a signed record of a publish (a provenance, or the
// scan attestation every publish and promotion writes) names the tag's
// repository and the tag among those it pointed at this digest: a tag
// that a registry writer added, or moved here from another digest, is
// in no such record.
func tagged(sts []sign.Statement, t name.Tag) verify.Check {
	c := verify.Check{Name: "tag"}
	repo := t.Context().Name()
	for _, st := range sts {
		image, tags, ok := published(st)
		if !ok {
			continue
		}
		r, err := name.NewRepository(image, name.WeakValidation)
		if err != nil || r.Name() != repo || !slices.Contains(tags, t.TagStr()) {
			continue
		}
		c.OK = true
		c.Detail = fmt.Sprintf("%s is a tag Gantry's signed records published this digest under", t.TagStr())
		return c
	}
	c.Detail = fmt.Sprintf("no signed record publishes this digest as %s:%s: someone else tagged it (verify it by digest to check the image alone)", repo, t.TagStr())
	return c
}

// diffIDs are the image's layers, as Trivy lists them.
func diffIDs(cf *v1.ConfigFile) []string {
	var ids []string
	for _, d := range cf.RootFS.DiffIDs {
		ids = append(ids, d.String())
	}
	return ids
}

// platformOf is os/arch[/variant], as the pipeline names platforms:
// arm64's default variant v8 is left out, as containerd normalises it.
func platformOf(os, arch, variant string) string {
	if variant != "" && !(arch == "arm64" && variant == "v8") {
		return os + "/" + arch + "/" + variant
	}
	return os + "/" + arch
}

// published is the image and tags a statement says its publish wrote.
func published(st sign.Statement) (image string, tags []string, ok bool) {
	var params map[string]any
	switch st.PredicateType {
	case sign.PredicateURI(sign.Provenance):
		var p slsa1.ProvenancePredicate
		if err := json.Unmarshal(st.Predicate, &p); err != nil || p.BuildDefinition.BuildType != attest.BuildType {
			return "", nil, false
		}
		params, _ = p.BuildDefinition.ExternalParameters.(map[string]any)
	case sign.PredicateURI(sign.Vuln):
		var p attestation.CosignVulnPredicate
		if err := json.Unmarshal(st.Predicate, &p); err != nil {
			return "", nil, false
		}
		params, _ = p.Invocation.Parameters.(map[string]any)
	}
	image, _ = params["image"].(string)
	list, _ := params["tags"].([]any)
	for _, v := range list {
		if s, ok := v.(string); ok {
			tags = append(tags, s)
		}
	}
	return image, tags, image != ""
}

func signatures(ctx context.Context, v *sign.Verifier, digests []name.Digest, ropts []remote.Option) verify.Check {
	for i, d := range digests {
		if err := v.VerifySignature(ctx, d, ropts); err != nil {
			what := "the image"
			if i > 0 {
				what = "platform manifest " + d.DigestStr()
			}
			return verify.Check{Name: "signature", Detail: fmt.Sprintf("%s has no valid signature by %s: %v", what, v.Signer(), err)}
		}
	}
	if len(digests) == 1 {
		return verify.Check{Name: "signature", OK: true, Detail: "signed by " + v.Signer()}
	}
	return verify.Check{Name: "signature", OK: true, Detail: fmt.Sprintf("the index and its %d platform manifests are signed by %s", len(digests)-1, v.Signer())}
}

// provenance passes when some Gantry provenance names the repository and
// commit; the newest such is reported.
func provenance(sts []sign.Statement, exp verify.Expect) (verify.Check, *verify.Built) {
	c := verify.Check{Name: "provenance"}
	var found []string
	var best *verify.Built
	for _, st := range sts {
		if st.PredicateType != sign.PredicateURI(sign.Provenance) {
			continue
		}
		var p slsa1.ProvenancePredicate
		if err := json.Unmarshal(st.Predicate, &p); err != nil || p.BuildDefinition.BuildType != attest.BuildType {
			continue
		}
		ext, _ := p.BuildDefinition.ExternalParameters.(map[string]any)
		repo, _ := ext["repository"].(string)
		commit, _ := ext["commit"].(string)
		ref, _ := ext["ref"].(string)
		claims := fmt.Sprintf("%s@%s", cmp.Or(repo, "(no repository)"), cmp.Or(commit, "(no commit)"))
		// Keyless, the provenance is the signer's word: its commit and
		// ref must be the ones the certificate vouches for.
		if c := st.Signer; c != nil && (commit != c.SHA || ref != c.Ref || !strings.EqualFold(repo, c.Repository)) {
			found = append(found, fmt.Sprintf("%s (ref %s), signed by a run of %s (ref %s) of %s", claims, cmp.Or(ref, "(none)"),
				cmp.Or(c.SHA, "(no commit)"), cmp.Or(c.Ref, "(none)"), cmp.Or(c.Repository, "(no repository)")))
			continue
		}
		found = append(found, claims)
		if repo != exp.Repository || (exp.Commit != "" && commit != exp.Commit) {
			continue
		}
		b := &verify.Built{Commit: commit, Ref: ref, Builder: p.RunDetails.Builder.ID}
		if flags, ok := ext["flags"].(map[string]any); ok {
			b.Dirty, _ = flags["dirty"].(bool)
		}
		if in, ok := p.BuildDefinition.InternalParameters.(map[string]any); ok {
			b.RunKey, _ = in[attest.RunKeyParameter].(string)
		}
		if t := p.RunDetails.BuildMetadata.FinishedOn; t != nil {
			b.Finished = *t
		}
		b.GoCaches = goCaches(p.RunDetails.Byproducts)
		if best == nil || b.Finished.After(best.Finished) {
			best = b
		}
	}
	switch {
	case best != nil:
		c.OK = true
		c.Detail = fmt.Sprintf("built from %s (%s) of %s at %s by %s", best.Commit, cmp.Or(best.Ref, "no ref"), exp.Repository,
			best.Finished.UTC().Format(time.RFC3339), best.Builder)
	case len(found) == 0:
		c.Detail = "no Gantry SLSA provenance among the verified attestations"
	default:
		want := exp.Repository + "@" + cmp.Or(exp.Commit, "any commit")
		c.Detail = fmt.Sprintf("the provenance names %s, want %s", strings.Join(found, ", "), want)
	}
	return c, best
}

// scanResult is the part of Gantry's scan predicate read back.
type scanResult struct {
	Gate    attest.Gate                `json:"gate"`
	Reports map[string]json.RawMessage `json:"reports"`
}

// scan re-applies the gate at exp.Severity to the newest scan
// attestation's Trivy reports, after checking that it has a report of each
// platform's image (layers: platform -> its layers' diff IDs), and that it
// is not older than exp.MaxScanAge. Layers, not the config digest: the
// publish puts the Dockerfile's healthcheck back into the config after the
// scan (Dagger v0.19 drops it), which changes the config, not a layer.
func scan(sts []sign.Statement, exp verify.Expect, layers map[string][]string) verify.Check {
	severity := exp.Severity
	c := verify.Check{Name: "scan"}
	var newest *attestation.CosignVulnPredicate
	for _, st := range sts {
		if st.PredicateType != sign.PredicateURI(sign.Vuln) {
			continue
		}
		var p attestation.CosignVulnPredicate
		if err := json.Unmarshal(st.Predicate, &p); err != nil {
			continue
		}
		if newest == nil || p.Metadata.ScanFinishedOn.After(newest.Metadata.ScanFinishedOn) {
			newest = &p
		}
	}
	if newest == nil {
		c.Detail = "no scan attestation among the verified attestations"
		return c
	}
	raw, err := json.Marshal(newest.Scanner.Result)
	var res scanResult
	if err == nil {
		err = json.Unmarshal(raw, &res)
	}
	if err != nil || len(res.Reports) == 0 {
		c.Detail = "the newest scan attestation holds no Trivy report"
		return c
	}
	platforms := make([]string, 0, len(res.Reports))
	for p := range res.Reports {
		platforms = append(platforms, p)
	}
	sort.Strings(platforms)
	var reports []scanreport.Report
	byPlatform := map[string]scanreport.Report{}
	for _, p := range platforms {
		rep, err := scanreport.Parse(res.Reports[p])
		if err != nil {
			c.Detail = fmt.Sprintf("the newest scan's %s report: %v", p, err)
			return c
		}
		reports = append(reports, rep)
		byPlatform[p] = rep
	}
	// Each platform's image must be the one its report scanned: a scan of
	// another image (another digest's, a platform left out) proves nothing
	// of this one.
	for _, p := range slices.Sorted(maps.Keys(layers)) {
		rep, ok := byPlatform[p]
		switch {
		case !ok:
			c.Detail = fmt.Sprintf("the newest scan has no report of the %s image (it covers %s)", p, strings.Join(platforms, ", "))
			return c
		case !slices.Equal(rep.DiffIDs, layers[p]):
			c.Detail = fmt.Sprintf("the newest scan's %s report is of another image (%s, layers %v), not of this digest's (layers %v)",
				p, cmp.Or(rep.ImageID, "unnamed"), rep.DiffIDs, layers[p])
			return c
		}
	}
	finished := newest.Metadata.ScanFinishedOn
	when := finished.UTC().Format(time.RFC3339)
	if exp.MaxScanAge > 0 {
		if age := exp.Now.Sub(finished); age > exp.MaxScanAge {
			c.Detail = fmt.Sprintf("the newest scan finished %s, %s ago, more than --max-scan-age %s: rescan it (a release, or a scheduled run)",
				when, age.Round(time.Minute), exp.MaxScanAge)
			return c
		}
	}
	d := scanreport.Gate(scanreport.Merge(reports...), severity)
	c.Detail = fmt.Sprintf("scanned %s with DB %s: %s (gate %s)", when, cmp.Or(newest.Scanner.DB.Version, "of unknown digest"),
		scanreport.CountLine(d.Counts), strings.Join(severity, ","))
	if res.Gate.IgnoreUnfixed {
		c.Detail += "; unfixed findings were ignored at scan time"
	}
	c.OK = d.Passed()
	if !c.OK {
		ids := make([]string, 0, len(d.Failing))
		for _, f := range d.Failing {
			if !slices.Contains(ids, f.ID) {
				ids = append(ids, f.ID)
			}
		}
		c.Detail += "; failing: " + strings.Join(ids, ", ")
	}
	return c
}

// Request is what checking an image takes, as gantry-publish and
// gantry-verify receive it.
type Request struct {
	Image string // a tag or a digest
	// PublicKey is the PEM key it must be signed with; or
	PublicKey []byte
	// Keyless is who must have signed it keylessly.
	Keyless  *verify.Keyless
	Expect   verify.Expect // Now is set here
	Insecure bool          // plain HTTP to the image's registry
	Auth     authn.Authenticator
}

// Verify checks r.Image against its key or keyless policy and r.Expect.
func Verify(ctx context.Context, r Request) (verify.Report, error) {
	var v *sign.Verifier
	var err error
	if k := r.Keyless; k != nil {
		v, err = sign.NewKeylessVerifier(ctx, sign.Policy{Roots: k.Roots, Identity: k.Policy, Subject: k.Subject,
			SubjectRegexp: k.SubjectRegexp, IgnoreSCT: k.IgnoreSCT, IgnoreTlog: k.IgnoreTlog, RekorKey: k.RekorKey})
	} else {
		v, err = sign.NewVerifier(r.PublicKey)
	}
	if err != nil {
		return verify.Report{}, err
	}
	opts := []name.Option{name.StrictValidation}
	if r.Insecure {
		opts = append(opts, name.Insecure)
	}
	ref, err := name.ParseReference(r.Image, opts...)
	if err != nil {
		return verify.Report{}, fmt.Errorf("verifying %q: %w", r.Image, err)
	}
	req := push.Request{Repository: ref.Context().String(), Insecure: r.Insecure, Auth: r.Auth}
	ropts, err := req.Options(ctx)
	if err != nil {
		return verify.Report{}, err
	}
	exp := r.Expect
	exp.Now = time.Now()
	return Image(ctx, ref, v, exp, ropts)
}

// goCaches are the Go caches' images among a provenance's byproducts, by
// module directory, each pinned by its sha256 digest; nil if none.
func goCaches(byproducts []slsa1.ResourceDescriptor) map[string]string {
	var out map[string]string
	for _, b := range byproducts {
		dir, ok := strings.CutPrefix(b.Name, attest.GoCachesByproduct)
		repo, isOCI := strings.CutPrefix(b.URI, "oci://")
		hex := b.Digest["sha256"]
		if !ok || !isOCI || len(hex) != 64 || strings.Trim(hex, "0123456789abcdef") != "" {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[dir] = repo + "@sha256:" + hex
	}
	return out
}
