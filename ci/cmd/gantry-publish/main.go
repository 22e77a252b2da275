// Command gantry-publish pushes an OCI image archive to a registry as one
// transaction (see package push), signing and attesting it before any tag
// moves (see package sign). The pipeline runs it inside a container so the
// registry token, the signing key, or the OIDC token of a keyless
// signature, reach it only as Dagger secrets, in $GANTRY_REGISTRY_TOKEN,
// $GANTRY_SIGN_KEY (a PKCS #8 key, or a cosign key with its password in
// $COSIGN_PASSWORD), or $GANTRY_ID_TOKEN.
// It prints the result as JSON on stdout, or writes it to --output.
//
// With --verify it publishes nothing and checks an image instead (package
// internal/check); with --revision-of it reads the commit a tag was built
// from, with --version-of the release an alias points at.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"

	"github.com/gantry-ci/gantry/ci/cmd/gantry-publish/internal/check"
	"github.com/gantry-ci/gantry/ci/cmd/gantry-publish/internal/sign"
	"github.com/gantry-ci/gantry/ci/internal/dockerfile"
	"github.com/gantry-ci/gantry/ci/internal/layercache"
	"github.com/gantry-ci/gantry/ci/internal/push"
	"github.com/gantry-ci/gantry/ci/internal/tags"
	"github.com/gantry-ci/gantry/ci/internal/verify"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gantry-publish:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := pflag.NewFlagSet("gantry-publish", pflag.ContinueOnError)
	archive := fs.String("archive", "", "OCI image layout tar to publish")
	from := fs.String("from", "", "instead of --archive: publish this digest of --repository (a promotion), as it is")
	repository := fs.String("repository", "", "registry/name to publish to")
	tagNames := fs.StringSlice("tag", nil, "tags to point at the image, in order")
	stage := fs.Bool("stage", false, "push, sign and attest, and tag nothing: the caller checks the result, then tags the digest with --from")
	attestOnly := fs.Bool("attest-only", false, "with --from: attest the digest with --attest, and sign and tag nothing (a failed rescan)")
	healthcheck := fs.String("healthcheck", "", "Docker healthcheck to set, as JSON")
	insecure := fs.Bool("insecure", false, "talk plain HTTP to the registry")
	username := fs.String("username", "", "registry user name; the token comes from $GANTRY_REGISTRY_TOKEN")
	revisionOf := fs.String("revision-of", "", "print the commit TAG was built from, as JSON, and publish nothing")
	versionOf := fs.String("version-of", "", "print the release the alias (1.5, 1) points at, as JSON, and publish nothing")
	var flavor tags.Flavor
	fs.StringVar(&flavor.Prefix, "tag-prefix", "", "with --version-of: the prefix of the repository's release tags and aliases")
	fs.StringVar(&flavor.Suffix, "tag-suffix", "", "with --version-of: their suffix")
	cacheStatus := fs.String("cache-status", "", "probe the layer cache at REF and print its status as JSON; publish nothing")
	verifyRef := fs.String("verify", "", "verify IMAGE (tag or digest) and print the report as JSON; publish nothing")
	keyFile := fs.String("key", "", "with --verify: the PEM public key the image must be signed with")
	var policy sign.Policy
	keylessPolicy := fs.String("keyless-policy", "", "with --verify, keyless: who may have signed, as JSON (identity.Policy)")
	fs.StringVar(&policy.Subject, "certificate-identity", "", "with --verify, keyless: the signer's exact identity (certificate subject)")
	fs.StringVar(&policy.SubjectRegexp, "certificate-identity-regexp", "", "with --verify, keyless: a pattern the signer's identity must match")
	caRoots := fs.String("ca-roots", "", "with --verify, keyless: PEM file of the Fulcio certificates to trust (default: Sigstore's public roots)")
	fs.BoolVar(&policy.IgnoreSCT, "insecure-ignore-sct", false, "with --verify, keyless: accept certificates without a CT log timestamp")
	fs.BoolVar(&policy.IgnoreTlog, "insecure-ignore-tlog", false, "with --verify, keyless: accept signatures not in a transparency log")
	rekorKey := fs.String("rekor-key", "", "with --verify and --ca-roots: PEM public key of the private Sigstore's Rekor")
	fulcioURL := fs.String("fulcio-url", "", "sign keyless with a certificate from this Fulcio, for the OIDC token in $GANTRY_ID_TOKEN")
	rekorURL := fs.String("rekor-url", "", "with --fulcio-url: enter each signature in this Rekor (empty: no transparency log)")
	expectRepo := fs.String("expect-repository", "", "with --verify: https://github.com/OWNER/REPO the provenance must name")
	expectCommit := fs.String("expect-commit", "", "with --verify: the commit the provenance must name (any if empty)")
	severity := fs.StringSlice("severity", []string{"HIGH", "CRITICAL"}, "with --verify: severities that fail the newest scan")
	maxScanAge := fs.Duration("max-scan-age", 0, "with --verify: fail if the newest scan is older (0: any age)")
	attest := fs.StringArray("attest", nil, "TYPE=FILE: attest the pushed digest with FILE's predicate (cosign --type name); needs a signing key")
	output := fs.String("output", "", "write the JSON result to this file instead of stdout")
	// Inside the pipeline's own 10-minute bound, with time left to roll back.
	timeout := fs.Duration("timeout", 8*time.Minute, "deadline for the whole publish (a rollback gets 30 s more)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	token := os.Getenv("GANTRY_REGISTRY_TOKEN")
	auth := authn.Anonymous
	if *username != "" || token != "" {
		auth = &authn.Basic{Username: *username, Password: token}
	}
	if *revisionOf != "" {
		rev, err := push.Revision(ctx, push.Request{Repository: *repository, Insecure: *insecure, Auth: auth}, *revisionOf)
		if err != nil {
			return redacted(err, token)
		}
		return emit(*output, map[string]string{"revision": rev})
	}

	if *versionOf != "" {
		v, err := push.AliasVersion(ctx, push.Request{Repository: *repository, Insecure: *insecure, Auth: auth}, *versionOf, flavor)
		if err != nil {
			return redacted(err, token)
		}
		return emit(*output, map[string]string{"version": v})
	}

	if *cacheStatus != "" {
		st := layercache.Probe(ctx, *cacheStatus, *insecure, auth, remote.DefaultTransport)
		st.Detail, st.WriteDetail = redact(st.Detail, token), redact(st.WriteDetail, token)
		return emit(*output, st)
	}

	if *verifyRef != "" {
		if *keylessPolicy != "" {
			if err := json.Unmarshal([]byte(*keylessPolicy), &policy.Identity); err != nil {
				return fmt.Errorf("--keyless-policy: %w", err)
			}
		}
		v, err := verifier(ctx, *keyFile, *caRoots, *rekorKey, policy)
		if err != nil {
			return err
		}
		rep, err := verifyImage(ctx, *verifyRef, v, *insecure, auth, verify.Expect{Repository: *expectRepo, Commit: *expectCommit, Severity: *severity, MaxScanAge: *maxScanAge, Now: time.Now()})
		if err != nil {
			return redacted(err, token)
		}
		return emit(*output, rep)
	}

	var hc *dockerfile.Healthcheck
	if *healthcheck != "" {
		hc = &dockerfile.Healthcheck{}
		if err := json.Unmarshal([]byte(*healthcheck), hc); err != nil {
			return fmt.Errorf("parsing --healthcheck: %w", err)
		}
	}
	req := push.Request{Repository: *repository, Tags: *tagNames, Insecure: *insecure, Log: os.Stderr, Auth: auth}
	var a push.Artifact
	if *from != "" {
		// A promotion: the image is in the registry already, as tested.
		var err error
		if a, err = remoteArtifact(ctx, req, *from); err != nil {
			return redacted(err, token)
		}
	} else {
		dir, err := os.MkdirTemp("", "gantry-publish-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if a, err = push.LoadOCIArchive(*archive, dir); err != nil {
			return err
		}
		if a, err = push.WithHealthcheck(a, hc); err != nil {
			return fmt.Errorf("setting healthcheck: %w", err)
		}
		if a, err = push.WithIndexAnnotations(a); err != nil {
			return fmt.Errorf("annotating the index: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	var out push.Result
	signer, err := newSigner(ctx, *fulcioURL, *rekorURL)
	if err != nil {
		return err
	}
	if signer != nil {
		atts, err := readAttestations(*attest)
		if err != nil {
			return err
		}
		if out.Identity, out.Issuer, err = certified(signer); err != nil {
			return err
		}
		req.Seal = seal(req, signer, atts, !*attestOnly, &out)
	} else if len(*attest) > 0 {
		return fmt.Errorf("--attest needs a signing key in $GANTRY_SIGN_KEY or --fulcio-url")
	}
	publish := push.Publish
	switch {
	case *attestOnly && (*from == "" || len(*attest) == 0 || len(*tagNames) > 0):
		return fmt.Errorf("--attest-only needs --from and --attest, and writes no --tag")
	case *attestOnly, *stage:
		publish = push.Stage
	}
	res, err := publish(ctx, req, a)
	if err != nil {
		return redacted(err, token)
	}
	res.Signed, res.Attestations, res.Identity, res.Issuer = out.Signed, out.Attestations, out.Identity, out.Issuer
	return emit(*output, res)
}

// newSigner is the signer the environment asks for: a key in
// $GANTRY_SIGN_KEY, keyless with --fulcio-url, or none (nil).
func newSigner(ctx context.Context, fulcioURL, rekorURL string) (*sign.Signer, error) {
	key, token := os.Getenv("GANTRY_SIGN_KEY"), os.Getenv("GANTRY_ID_TOKEN")
	switch {
	case key != "" && fulcioURL != "":
		return nil, errors.New("sign with a key ($GANTRY_SIGN_KEY) or keyless (--fulcio-url), not both")
	case key != "":
		return sign.LoadKey([]byte(key), []byte(os.Getenv("COSIGN_PASSWORD")))
	case fulcioURL == "":
		return nil, nil
	case token == "":
		return nil, errors.New("--fulcio-url needs the OIDC token in $GANTRY_ID_TOKEN")
	}
	fmt.Fprintf(os.Stderr, "getting a signing certificate from %s\n", fulcioURL)
	return sign.NewKeyless(ctx, sign.Keyless{FulcioURL: fulcioURL, IDToken: token, RekorURL: rekorURL})
}

// certified returns the identity and issuer a keyless signer's
// certificate names ("" for a key).
func certified(s *sign.Signer) (identity, issuer string, err error) {
	cert, err := s.Certificate()
	if err != nil || cert == nil {
		return "", "", err
	}
	sans := cryptoutils.GetSubjectAlternateNames(cert)
	if len(sans) == 0 {
		return "", "", errors.New("the signing certificate names no identity")
	}
	ext := cosign.CertExtensions{Cert: cert}
	return sans[0], ext.GetIssuer(), nil
}

// verifier is the --verify policy: a public key, or a keyless identity.
func verifier(ctx context.Context, keyFile, caRoots, rekorKey string, p sign.Policy) (*sign.Verifier, error) {
	if keyFile != "" {
		pub, err := os.ReadFile(keyFile)
		if err != nil {
			return nil, fmt.Errorf("--key: %w", err)
		}
		return sign.NewVerifier(pub)
	}
	if caRoots != "" {
		var err error
		if p.Roots, err = os.ReadFile(caRoots); err != nil {
			return nil, fmt.Errorf("--ca-roots: %w", err)
		}
	}
	if rekorKey != "" {
		var err error
		if p.RekorKey, err = os.ReadFile(rekorKey); err != nil {
			return nil, fmt.Errorf("--rekor-key: %w", err)
		}
	}
	return sign.NewKeylessVerifier(ctx, p)
}

// seal signs every pushed digest (unless signDigests is false: attestations
// alone), attests the top one, and reads both back
// through cosign's verification before any tag may move. If any of that
// fails, the signature and attestation tags are put back as they were, on
// a context of their own, so a failed publish leaves no tag behind.
func seal(req push.Request, s *sign.Signer, atts []sign.Attestation, signDigests bool, out *push.Result) func(context.Context, []name.Digest, []remote.Option) error {
	return func(ctx context.Context, digests []name.Digest, ropts []remote.Option) error {
		snap, err := sign.Take(digests, ropts)
		if err != nil {
			return err
		}
		if err := signAndAttest(ctx, s, atts, signDigests, out, digests, ropts); err != nil {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), push.RollbackTimeout)
			defer cancel()
			rest, rerr := req.Options(rctx)
			if rerr == nil {
				rerr = snap.Restore(s.Wrote(), rest)
			}
			if rerr != nil {
				return errors.Join(err, fmt.Errorf("putting the signature tags back: %w", rerr))
			}
			return fmt.Errorf("%w (signature and attestation tags put back)", err)
		}
		return nil
	}
}

// signAndAttest is the seal's work. Each digest's signature and the
// attestations live under tags of their own (.sig, .att), so each is
// written and read back beside the others: the registry round trips, not
// the signing, are what take the time.
func signAndAttest(ctx context.Context, s *sign.Signer, atts []sign.Attestation, signDigests bool, out *push.Result, digests []name.Digest, ropts []remote.Option) error {
	v := s.Verifier()
	g, gctx := errgroup.WithContext(ctx)
	signed := digests
	if !signDigests {
		signed = nil
	}
	if len(signed) > 0 {
		fmt.Fprintf(os.Stderr, "signing %d digest(s)\n", len(signed))
	}
	for _, d := range signed {
		g.Go(func() error {
			if err := s.Sign(gctx, []name.Digest{d}, ropts); err != nil {
				return err
			}
			if err := v.VerifySignature(gctx, d, ropts); err != nil {
				return fmt.Errorf("reading back: %w", err)
			}
			return nil
		})
	}
	var sts []sign.Statement
	if len(atts) > 0 {
		fmt.Fprintf(os.Stderr, "attesting %s (%d predicate(s))\n", digests[0], len(atts))
		g.Go(func() error {
			written, err := s.Attest(gctx, digests[0], atts, ropts)
			if err != nil {
				return err
			}
			if sts, err = v.VerifyWritten(gctx, digests[0], written, ropts); err != nil {
				return fmt.Errorf("reading back: %w", err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for _, d := range signed {
		out.Signed = append(out.Signed, d.DigestStr())
	}
	for _, a := range atts {
		uri := sign.PredicateURI(a.Type)
		if !slices.ContainsFunc(sts, func(st sign.Statement) bool { return st.PredicateType == uri }) {
			return fmt.Errorf("reading back the attestations of %s: no %s", digests[0], uri)
		}
		if !slices.Contains(out.Attestations, uri) {
			out.Attestations = append(out.Attestations, uri)
		}
	}
	return nil
}

// verifyImage checks ref with v.
func verifyImage(ctx context.Context, ref string, v *sign.Verifier, insecure bool, auth authn.Authenticator, exp verify.Expect) (verify.Report, error) {
	opts := []name.Option{name.StrictValidation}
	if insecure {
		opts = append(opts, name.Insecure)
	}
	r, err := name.ParseReference(ref, opts...)
	if err != nil {
		return verify.Report{}, fmt.Errorf("--verify %q: %w", ref, err)
	}
	req := push.Request{Repository: r.Context().String(), Insecure: insecure, Auth: auth}
	ropts, err := req.Options(ctx)
	if err != nil {
		return verify.Report{}, err
	}
	return check.Image(ctx, r, v, exp, ropts)
}

// remoteArtifact reads the index or image at repository@digest.
func remoteArtifact(ctx context.Context, req push.Request, digest string) (push.Artifact, error) {
	opts := []name.Option{name.StrictValidation}
	if req.Insecure {
		opts = append(opts, name.Insecure)
	}
	ref, err := name.NewDigest(req.Repository+"@"+digest, opts...)
	if err != nil {
		return nil, fmt.Errorf("--from %q: %w", digest, err)
	}
	ropts, err := req.Options(ctx)
	if err != nil {
		return nil, err
	}
	desc, err := remote.Get(ref, ropts...)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ref, err)
	}
	if desc.MediaType.IsIndex() {
		return desc.ImageIndex()
	}
	return desc.Image()
}

// readAttestations reads each TYPE=FILE.
func readAttestations(specs []string) ([]sign.Attestation, error) {
	var atts []sign.Attestation
	for _, spec := range specs {
		typ, file, ok := strings.Cut(spec, "=")
		if !ok || sign.PredicateURI(typ) == "" {
			return nil, fmt.Errorf("--attest %q: want TYPE=FILE with TYPE one of %s, %s, %s", spec, sign.Provenance, sign.CycloneDX, sign.Vuln)
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("--attest: %w", err)
		}
		atts = append(atts, sign.Attestation{Type: typ, Predicate: data})
	}
	return atts, nil
}

// emit writes the result as JSON to path, or to stdout. The pipeline reads
// the file: Dagger masks secret values in an exec's output, which would
// garble any part of the result equal to the token.
func emit(path string, v any) error {
	if path == "" {
		return json.NewEncoder(os.Stdout).Encode(v)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// redacted keeps the token out of err: registries sometimes echo what they
// were sent.
func redacted(err error, token string) error {
	if token == "" {
		return err
	}
	return fmt.Errorf("%s", redact(err.Error(), token))
}

func redact(s, token string) string {
	if token == "" {
		return s
	}
	return strings.ReplaceAll(s, token, "***")
}
