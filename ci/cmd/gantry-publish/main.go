// Command gantry-publish pushes an OCI image archive to a registry as one
// transaction (see package push), signing and attesting it before any tag
// moves (see package sign). The pipeline runs it inside a container so the
// registry token, the signing key, or the OIDC token of a keyless
// signature, reach it only as Dagger secrets, in $GANTRY_REGISTRY_TOKEN,
// $GANTRY_SIGN_KEY (a PKCS #8 key, or a cosign key with its password in
// $COSIGN_PASSWORD), or $GANTRY_ID_TOKEN.
// It reads one request (--request FILE, a publisher.Request) and writes its
// typed result as JSON to --output, or stdout: a publish, or, publishing
// nothing, a check of an image (package cmd/internal/check), the commit a
// tag was built from, the release an alias points at, or the layer
// cache's status.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"

	"github.com/gantry-ci/gantry/ci/cmd/internal/check"
	"github.com/gantry-ci/gantry/ci/cmd/internal/sign"
	"github.com/gantry-ci/gantry/ci/internal/layercache"
	"github.com/gantry-ci/gantry/ci/internal/publisher"
	"github.com/gantry-ci/gantry/ci/internal/push"
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
	requestFile := fs.String("request", "", "the request, a JSON publisher.Request")
	output := fs.String("output", "", "write the JSON result to this file instead of stdout")
	if err := fs.Parse(args); err != nil {
		return err
	}
	data, err := os.ReadFile(*requestFile)
	if err != nil {
		return fmt.Errorf("reading the request: %w", err)
	}
	var req publisher.Request
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return fmt.Errorf("reading the request %s: %w", *requestFile, err)
	}
	if err := req.Validate(); err != nil {
		return fmt.Errorf("the request %s: %w", *requestFile, err)
	}
	token := os.Getenv("GANTRY_REGISTRY_TOKEN")
	auth := authn.Anonymous
	if req.Username != "" || token != "" {
		auth = &authn.Basic{Username: req.Username, Password: token}
	}
	result, err := serve(ctx, req, auth)
	if err != nil {
		return redacted(err, token)
	}
	if st, ok := result.(layercache.Status); ok {
		st.Detail, st.WriteDetail = redact(st.Detail, token), redact(st.WriteDetail, token)
		result = st
	}
	return emit(*output, result)
}

// serve runs the request's operation and returns its result.
func serve(ctx context.Context, req publisher.Request, auth authn.Authenticator) (any, error) {
	pr := push.Request{Repository: req.Repository, Insecure: req.Insecure, Auth: auth}
	switch {
	case req.Revision != nil:
		rev, err := push.Revision(ctx, pr, req.Revision.Tag)
		return publisher.RevisionResult{Revision: rev}, err
	case req.AliasVersion != nil:
		v, err := push.AliasVersion(ctx, pr, req.AliasVersion.Alias, req.AliasVersion.Flavor)
		return publisher.AliasVersionResult{Version: v}, err
	case req.CacheStatus != nil:
		return layercache.Probe(ctx, req.CacheStatus.Ref, req.Insecure, auth, remote.DefaultTransport), nil
	case req.Verify != nil:
		return verifyRequest(ctx, req, auth)
	}
	return publish(ctx, req, pr)
}

// verifyRequest checks an image for a Verify request.
func verifyRequest(ctx context.Context, req publisher.Request, auth authn.Authenticator) (verify.Report, error) {
	vr := req.Verify
	return check.Verify(ctx, check.Request{Image: vr.Image, PublicKey: vr.PublicKey, Keyless: vr.Keyless,
		Expect: vr.Expect, Insecure: req.Insecure, Auth: auth})
}

// publish runs a Publish request.
func publish(ctx context.Context, r publisher.Request, req push.Request) (push.Result, error) {
	p := r.Publish
	req.Tags, req.Log = p.Tags, os.Stderr
	var a push.Artifact
	if p.From != "" {
		// A promotion, or a staged digest: the image is in the registry
		// already, as tested.
		var err error
		if a, err = remoteArtifact(ctx, req, p.From); err != nil {
			return push.Result{}, err
		}
	} else {
		dir, err := os.MkdirTemp("", "gantry-publish-")
		if err != nil {
			return push.Result{}, err
		}
		defer os.RemoveAll(dir)
		if a, err = push.LoadOCIArchive(p.Archive, dir); err != nil {
			return push.Result{}, err
		}
		if a, err = push.WithHealthcheck(a, p.Healthcheck); err != nil {
			return push.Result{}, fmt.Errorf("setting healthcheck: %w", err)
		}
		if a, err = push.WithIndexAnnotations(a); err != nil {
			return push.Result{}, fmt.Errorf("annotating the index: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	var out push.Result
	signer, err := newSigner(ctx, p.Keyless)
	if err != nil {
		return push.Result{}, err
	}
	if signer != nil {
		atts, err := readAttestations(p.Attest)
		if err != nil {
			return push.Result{}, err
		}
		if out.Identity, out.Issuer, err = certified(signer); err != nil {
			return push.Result{}, err
		}
		req.Seal = seal(req, signer, atts, p.Mode != publisher.AttestOnly, &out)
	} else if len(p.Attest) > 0 {
		return push.Result{}, fmt.Errorf("attesting needs a signing key in $GANTRY_SIGN_KEY or keyless signing")
	}
	do := push.Publish
	if p.Mode != publisher.Tag {
		do = push.Stage
	}
	res, err := do(ctx, req, a)
	if err != nil {
		return push.Result{}, err
	}
	res.Signed, res.Attestations, res.Identity, res.Issuer = out.Signed, out.Attestations, out.Identity, out.Issuer
	if signer != nil {
		res.LogIndexes = signer.LogIndexes()
	}
	return res, nil
}

// newSigner is the signer the request and the environment ask for: a key
// in $GANTRY_SIGN_KEY, keyless, or none (nil).
func newSigner(ctx context.Context, k *publisher.Keyless) (*sign.Signer, error) {
	key, token := os.Getenv("GANTRY_SIGN_KEY"), os.Getenv("GANTRY_ID_TOKEN")
	switch {
	case key != "" && k != nil:
		return nil, errors.New("sign with a key ($GANTRY_SIGN_KEY) or keyless, not both")
	case key != "":
		return sign.LoadKey([]byte(key), []byte(os.Getenv("COSIGN_PASSWORD")))
	case k == nil:
		return nil, nil
	case token == "":
		return nil, errors.New("keyless signing needs the OIDC token in $GANTRY_ID_TOKEN")
	}
	fmt.Fprintf(os.Stderr, "getting a signing certificate from %s\n", k.FulcioURL)
	return sign.NewKeyless(ctx, sign.Keyless{FulcioURL: k.FulcioURL, IDToken: token, RekorURL: k.RekorURL})
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
			var emptied []name.Tag
			if rerr == nil {
				emptied, rerr = snap.Restore(s.Wrote(), rest)
			}
			if rerr != nil {
				return errors.Join(err, fmt.Errorf("putting the signature tags back: %w", rerr))
			}
			if len(emptied) > 0 {
				return fmt.Errorf("%w (signature and attestation tags put back; the registry refuses deletes, so %s now list nothing)", err, tagList(emptied))
			}
			return fmt.Errorf("%w (signature and attestation tags put back)", err)
		}
		return nil
	}
}

// tagList names tags, for a message.
func tagList(tags []name.Tag) string {
	var names []string
	for _, t := range tags {
		names = append(names, t.TagStr())
	}
	return strings.Join(names, ", ")
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

// remoteArtifact reads the index or image at repository@digest.
func remoteArtifact(ctx context.Context, req push.Request, digest string) (push.Artifact, error) {
	opts := []name.Option{name.StrictValidation}
	if req.Insecure {
		opts = append(opts, name.Insecure)
	}
	ref, err := name.NewDigest(req.Repository+"@"+digest, opts...)
	if err != nil {
		return nil, fmt.Errorf("publishing from %q: %w", digest, err)
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

// readAttestations reads each predicate's file.
func readAttestations(specs []publisher.Attestation) ([]sign.Attestation, error) {
	var atts []sign.Attestation
	for _, a := range specs {
		if sign.PredicateURI(a.Type) == "" {
			return nil, fmt.Errorf("attesting %q: the type is not one of %s, %s, %s", a.Type, sign.Provenance, sign.CycloneDX, sign.Vuln)
		}
		data, err := os.ReadFile(a.File)
		if err != nil {
			return nil, fmt.Errorf("attesting %s: %w", a.Type, err)
		}
		atts = append(atts, sign.Attestation{Type: a.Type, Predicate: data})
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
