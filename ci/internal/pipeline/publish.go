package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"dagger.io/dagger"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/gantry-ci/gantry/ci/internal/attest"
	"github.com/gantry-ci/gantry/ci/internal/dockerfile"
	"github.com/gantry-ci/gantry/ci/internal/imageref"
	"github.com/gantry-ci/gantry/ci/internal/publisher"
	"github.com/gantry-ci/gantry/ci/internal/push"
	"github.com/gantry-ci/gantry/ci/internal/tags"
)

// publishDeadline bounds a publish, which outlives an interrupt.
const publishDeadline = 10 * time.Minute

// PublishInput is what the publish stage takes.
type PublishInput struct {
	Repository string                       // registry/name
	Images     map[string]*dagger.Container // by platform, from the build
	Tags       []string
	// Flavor is the prefix and suffix of every tag but the commit SHA:
	// latest and the release aliases are found in it.
	Flavor      tags.Flavor
	Username    string
	Token       *dagger.Secret
	Healthcheck *dockerfile.Healthcheck // written back into each image config
	Publisher   *dagger.File            // gantry-publish for the engine's platform
	// LatestGuard, when set, decides from the commit latest points at now
	// ("" if none) whether this run may move it, and if not, why.
	LatestGuard func(ctx context.Context, revision string) (ok bool, why string)
	// Version is the release this run publishes (1.5.2): the aliases
	// among Tags (1.5, 1) move only if the release they point at now is
	// not higher.
	Version string
	// Sign signs every pushed digest and attests the top one; nil:
	// unsigned.
	Sign *Signing
	// Attest is what the attestations record; required with Sign.
	Attest *attest.Run
	// Scan is the scan stage's result, attested with Sign.
	Scan *ScanResult
	// From, when set, is a digest already in Repository to publish as it is
	// (a promotion): no push of image content, no provenance (the build's
	// stands), only the new scan is attested.
	From string
}

// Signing is how gantry-publish signs: with Key (the private key,
// decrypted: see signing.KeyPair), or keyless, with a certificate from
// FulcioURL for the OIDC token IDToken returns.
type Signing struct {
	Key *dagger.Secret
	// IDToken returns a fresh token as a secret. It is called as the
	// publish starts: a token requested when the run began may have
	// expired by then.
	IDToken func(context.Context) (*dagger.Secret, error)
	// FulcioURL and RekorURL are the keyless services; RekorURL "": no
	// transparency log.
	FulcioURL, RekorURL string
}

// Publish pushes every platform's image as one index with gantry-publish,
// run in a container so that the registry token reaches it only as a
// Dagger secret. It writes the manifest once, with the Dockerfile's
// healthcheck put back (Dagger v0.19 drops it, dagger#9515, fixed by
// WithDockerHealthcheck in v0.20.1), signs and attests it, and checks what
// gantry-publish reports, all before any tag moves; then it points each tag
// at the digest, retrying transient registry errors and rolling tags back
// if one can't be written.
func Publish(ctx context.Context, env Env, in PublishInput, log io.Writer) (*push.Result, error) {
	// Once tags are being written, an interrupt must not kill gantry-publish
	// midway (the engine stops an exec whose request is cancelled): the
	// publish finishes, or rolls back, within a deadline of its own.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publishDeadline)
	defer cancel()
	want := slices.Clone(in.Tags)
	var held []string
	if latest := in.Flavor.Tag("latest"); in.LatestGuard != nil && slices.Contains(want, latest) {
		rev, err := latestRevision(ctx, env, in, latest)
		if err != nil {
			return nil, err
		}
		if ok, why := in.LatestGuard(ctx, rev); !ok {
			fmt.Fprintln(log, why)
			held = append(held, why)
			want = slices.DeleteFunc(want, func(t string) bool { return t == latest })
		}
	}
	for _, tag := range slices.Clone(want) {
		alias, ok := in.Flavor.Name(tag)
		if !ok || !tags.Alias(alias) {
			continue
		}
		current, err := aliasVersion(ctx, env, in, alias)
		if err != nil {
			return nil, err
		}
		if ok, why := tags.AliasMoves(alias, current, in.Version); !ok {
			fmt.Fprintln(log, why)
			held = append(held, why)
			want = slices.DeleteFunc(want, func(t string) bool { return t == tag })
		}
	}
	if in.Attest != nil {
		// The records name the tags this publish writes, not the ones the
		// guards withheld: `verify IMAGE:TAG` trusts a tag they name.
		att := *in.Attest
		att.Tags = want
		in.Attest = &att
	}
	staged, attested, err := pushAndSign(ctx, env, in, publisher.Stage)
	if err != nil {
		return nil, fmt.Errorf("publishing %s: %w", in.Repository, err)
	}
	// Every check of what gantry-publish did comes before any tag moves: a
	// check that fails leaves the tags as they were (a run once exited 8
	// with its tags moved).
	if _, err := v1.NewHash(staged.Digest); err != nil {
		return nil, fmt.Errorf("gantry-publish reported digest %q, want sha256:<64 hex>: %w", staged.Digest, err)
	}
	if in.From != "" && staged.Digest != in.From {
		return nil, fmt.Errorf("promoting %s: gantry-publish published %s instead", in.From, staged.Digest)
	}
	// What was signed and attested is what was asked for: gantry-publish
	// read each back through cosign's verification or failed.
	if in.Sign != nil {
		if len(staged.Signed) == 0 {
			return nil, fmt.Errorf("gantry-publish signed nothing; no tag was written")
		}
		if in.Sign.Key == nil && staged.Identity == "" {
			return nil, fmt.Errorf("gantry-publish signed keyless but names no certified identity; no tag was written")
		}
	}

	// Then the tags, on the staged digest: gantry-publish reads it back by
	// digest, moves the tags and puts them back if one fails.
	req := in.request(env)
	req.Publish = &publisher.Publish{Mode: publisher.Tag, From: staged.Digest, Tags: want, Timeout: publisherTimeout}
	var moved push.Result // the staged digest: gantry-publish read it by digest
	if err := runPublisher(ctx, env, publisherContainer(env, in), req, &moved); err != nil {
		return nil, fmt.Errorf("publishing %s: %w", in.Repository, err)
	}
	res, err := tagged(staged, in.Repository, want, in.Sign != nil, attested)
	if err != nil {
		return nil, err
	}
	if in.Sign != nil {
		fmt.Fprintf(log, "signed %d digest(s); attested %s\n", len(res.Signed), strings.Join(attested, ", "))
	}
	for _, ref := range res.Refs {
		fmt.Fprintln(log, ref)
	}
	res.Held = held
	return &res, nil
}

// pushAndSign runs gantry-publish in mode, Stage or AttestOnly: it
// pushes the image (or reads the From digest), signs it (not AttestOnly)
// and attests it, and tags nothing. It returns what gantry-publish
// reports and the names of the attestations.
func pushAndSign(ctx context.Context, env Env, in PublishInput, mode publisher.Mode) (push.Result, []string, error) {
	req := in.request(env)
	p := &publisher.Publish{Mode: mode, From: in.From, Timeout: publisherTimeout}
	req.Publish = p
	ctr := publisherContainer(env, in)
	if in.From == "" {
		p.Archive, p.Healthcheck = "/in/image.tar", in.Healthcheck
		ctr = ctr.WithMountedFile("/in/image.tar", archive(in.Images), dagger.ContainerWithMountedFileOpts{Owner: "65532"})
	}
	var attested []string
	if sg := in.Sign; sg != nil {
		atts, specs, names, err := attestations(env, in, time.Now())
		if err != nil {
			return push.Result{}, nil, err
		}
		attested, p.Attest = names, specs
		ctr = ctr.WithMountedDirectory("/in/att", atts, dagger.ContainerWithMountedDirectoryOpts{Owner: "65532"})
		if sg.Key != nil {
			ctr = ctr.WithSecretVariable("GANTRY_SIGN_KEY", sg.Key)
		} else {
			tok, err := sg.IDToken(ctx)
			if err != nil {
				return push.Result{}, nil, err
			}
			ctr = ctr.WithSecretVariable("GANTRY_ID_TOKEN", tok)
			p.Keyless = &publisher.Keyless{FulcioURL: sg.FulcioURL, RekorURL: sg.RekorURL}
		}
	}
	ctr = ctr.WithMountedTemp("/tmp")
	var got push.Result
	err := runPublisher(ctx, env, ctr, req, &got)
	return got, attested, err
}

// publisherTimeout bounds gantry-publish's own work, inside the pipeline's
// publishDeadline, with time left to roll back.
const publisherTimeout = 8 * time.Minute

// request is a request to gantry-publish for in's repository.
func (in PublishInput) request(env Env) publisher.Request {
	return publisher.Request{Repository: in.Repository, Username: in.Username, Insecure: env.Images.Insecure(in.Repository)}
}

// attestFailedScan attests a promotion's failed rescan on the digest it
// promoted, and signs and tags nothing: the newest scan attestation of a
// digest is then the truth, and `verify` fails for it. Without signing
// (or in a dry run) there is nothing to attest with.
func attestFailedScan(ctx context.Context, env Env, in PublishInput, log io.Writer) error {
	if in.Sign == nil || in.From == "" || in.Scan == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publishDeadline)
	defer cancel()
	if in.Attest != nil {
		att := *in.Attest
		att.Tags = nil // it tags nothing
		in.Attest = &att
	}
	got, _, err := pushAndSign(ctx, env, in, publisher.AttestOnly)
	if err != nil {
		return fmt.Errorf("attesting the failed rescan of %s: %w", in.From, err)
	}
	if got.Digest != in.From {
		return fmt.Errorf("attesting the failed rescan of %s: gantry-publish attested %s instead", in.From, got.Digest)
	}
	fmt.Fprintf(log, "attested the failed rescan of %s: `verify` fails for it until a newer scan passes\n", in.From)
	return nil
}

// attestations writes the predicates to attest (provenance, the scan, each
// platform's SBOM) into a directory mounted at /in/att, with what
// gantry-publish is asked to attest and their names for the summary. The
// gates passed at finished.
func attestations(env Env, in PublishInput, finished time.Time) (dir *dagger.Directory, specs []publisher.Attestation, names []string, err error) {
	if in.Attest == nil || in.Scan == nil {
		return nil, nil, nil, fmt.Errorf("signing needs the run's facts and its scan to attest")
	}
	sc := in.Scan
	var ignorefile *attest.Ignorefile
	if f := sc.Ignorefile; f != nil {
		ignorefile = &attest.Ignorefile{Path: ".trivyignore", Digest: f.Digest, Suppressed: f.Suppressed}
		if ignorefile.Suppressed == nil {
			ignorefile.Suppressed = []string{}
		}
	}
	vuln, err := attest.Vuln(*in.Attest, attest.Scan{
		Version: imageref.Tag(env.Images.Trivy),
		DB:      in.Attest.TrivyDB,
		Reports: sc.Raw,
		Gate: attest.Gate{Severities: sc.Severity, IgnoreUnfixed: sc.IgnoreUnfixed,
			Passed: sc.Decision.Passed(), Counts: sc.Decision.Counts},
		Started: sc.Started, Finished: sc.Finished, DBUpdatedAt: sc.DBUpdatedAt, Ignorefile: ignorefile,
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("writing the scan attestation: %w", err)
	}
	dir = env.Client.Directory().WithNewFile("scan.json", string(vuln))
	specs = []publisher.Attestation{{Type: "vuln", File: "/in/att/scan.json"}}
	names = []string{"vulnerability scan"}
	if in.From != "" {
		// A promotion: the image, its provenance and SBOMs are the build's.
		return dir, specs, names, nil
	}
	prov, err := attest.Provenance(*in.Attest, finished)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("writing the provenance: %w", err)
	}
	dir = dir.WithNewFile("provenance.json", string(prov))
	specs = append(specs, publisher.Attestation{Type: "slsaprovenance1", File: "/in/att/provenance.json"})
	names = append([]string{"SLSA provenance v1"}, names...)
	platforms := make([]string, 0, len(sc.SBOMs))
	for p := range sc.SBOMs {
		platforms = append(platforms, p)
	}
	sort.Strings(platforms)
	for _, p := range platforms {
		f := "sbom-" + strings.ReplaceAll(p, "/", "-") + ".cdx.json"
		dir = dir.WithFile(f, sc.SBOMs[p])
		specs = append(specs, publisher.Attestation{Type: "cyclonedx", File: "/in/att/" + f})
		names = append(names, "CycloneDX SBOM ("+p+")")
	}
	return dir, specs, names, nil
}

// runPublisher runs gantry-publish with req in ctr and decodes the JSON
// result it writes to a file: files, unlike an exec's output, are not
// masked for secrets. A failure carries the tail of its stderr.
func runPublisher(ctx context.Context, env Env, ctr *dagger.Container, req publisher.Request, result any) error {
	if err := req.Validate(); err != nil {
		return fmt.Errorf("asking gantry-publish: %w", err)
	}
	data, err := json.Marshal(req)
	if err != nil {
		return err
	}
	ctr = ctr.WithNewFile("/in/request.json", string(data), dagger.ContainerWithNewFileOpts{Owner: "65532"}).
		WithMountedDirectory("/out", env.Client.Directory(), dagger.ContainerWithMountedDirectoryOpts{Owner: "65532"}).
		WithExec([]string{"/gantry-publish", "--request", "/in/request.json", "--output", "/out/result.json"}, dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	code, err := ctr.ExitCode(ctx)
	if err != nil {
		return fmt.Errorf("running gantry-publish: %w", err)
	}
	if code != 0 {
		stderr, _ := ctr.Stderr(ctx)
		return fmt.Errorf("gantry-publish exited %d:\n%s", code, tail(stderr, 20))
	}
	out, err := ctr.File("/out/result.json").Contents(ctx)
	if err != nil {
		return fmt.Errorf("reading gantry-publish's result: %w", err)
	}
	if err := json.Unmarshal([]byte(out), result); err != nil {
		return fmt.Errorf("reading gantry-publish's result %q: %w", out, err)
	}
	return nil
}

// archive is every platform's image as one OCI layout tarball.
func archive(images map[string]*dagger.Container) *dagger.File {
	platforms := make([]string, 0, len(images))
	for p := range images {
		platforms = append(platforms, p)
	}
	sort.Strings(platforms)
	var variants []*dagger.Container
	for _, p := range platforms[1:] {
		variants = append(variants, images[p])
	}
	return images[platforms[0]].AsTarball(dagger.ContainerAsTarballOpts{PlatformVariants: variants})
}

// publisherContainer runs gantry-publish with the token as a secret; its
// runs are never cached.
func publisherContainer(env Env, in PublishInput) *dagger.Container {
	return publisherBase(env, in.Publisher, in.Token)
}

// publisherBase is gantry-publish in the pinned runtime image, with the
// registry token (nil: anonymous) as a secret, unique to the run.
func publisherBase(env Env, bin *dagger.File, token *dagger.Secret) *dagger.Container {
	ctr := env.Client.Container().From(env.Images.Runtime).
		WithFile("/gantry-publish", bin, dagger.ContainerWithFileOpts{Permissions: 0o755}).
		WithEnvVariable("GANTRY_PUBLISH", env.RunID)
	if token != nil {
		ctr = ctr.WithSecretVariable("GANTRY_REGISTRY_TOKEN", token)
	}
	return ctr
}

// latestRevision reads the commit the registry's latest was built from
// ("" if there is no latest yet), with the token, in the engine.
func latestRevision(ctx context.Context, env Env, in PublishInput, latest string) (string, error) {
	req := in.request(env)
	req.Revision = &publisher.Revision{Tag: latest}
	var got publisher.RevisionResult
	if err := runPublisher(ctx, env, publisherContainer(env, in), req, &got); err != nil {
		return "", fmt.Errorf("reading %s:%s: %w", in.Repository, latest, err)
	}
	if got.Revision != "" && !isSHA(got.Revision) {
		return "", fmt.Errorf("%s:%s has revision label %q, not a commit SHA", in.Repository, latest, got.Revision)
	}
	return got.Revision, nil
}

// aliasVersion reads the release the alias points at now ("" if none),
// with the token, in the engine.
func aliasVersion(ctx context.Context, env Env, in PublishInput, alias string) (string, error) {
	req := in.request(env)
	req.AliasVersion = &publisher.AliasVersion{Alias: alias, Flavor: in.Flavor}
	var got publisher.AliasVersionResult
	if err := runPublisher(ctx, env, publisherContainer(env, in), req, &got); err != nil {
		return "", fmt.Errorf("reading %s:%s: %w", in.Repository, alias, err)
	}
	return got.Version, nil
}

func isSHA(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

// publishedRefs names what was published from the digest gantry-publish
// reports and the tags asked for.
func publishedRefs(repo string, tags []string, digest string) (push.Result, error) {
	if _, err := v1.NewHash(digest); err != nil {
		return push.Result{}, fmt.Errorf("gantry-publish reported digest %q, want sha256:<64 hex>: %w", digest, err)
	}
	res := push.Result{Digest: digest}
	for _, t := range tags {
		res.Refs = append(res.Refs, repo+":"+t+"@"+digest)
	}
	return res, nil
}

// tagged is what a publish that staged staged and then tagged it with
// tags reports: the staged image's ID, and, when it signed, what it signed
// and attested and the log entries (the tagging run signs nothing).
func tagged(staged push.Result, repo string, tags []string, signed bool, attested []string) (push.Result, error) {
	res, err := publishedRefs(repo, tags, staged.Digest)
	if err != nil {
		return push.Result{}, err
	}
	res.ImageID = staged.ImageID
	if signed {
		res.Signed, res.Attestations, res.Identity, res.Issuer = staged.Signed, attested, staged.Identity, staged.Issuer
		res.LogIndexes = staged.LogIndexes
	}
	return res, nil
}

// PublisherFunc compiles gantry-publish for the engine's platform.
type PublisherFunc func(ctx context.Context, platform dagger.Platform) (*dagger.File, error)

// startPublisher compiles the publisher in the background while the other
// stages run, unless nothing is published; the publish stage waits for it.
func startPublisher(ctx context.Context, env Env, p Plan) func() (*dagger.File, error) {
	if p.SkipPublish != "" || p.Publisher == nil {
		return func() (*dagger.File, error) { return nil, fmt.Errorf("no publisher in this run") }
	}
	get := sync.OnceValues(func() (*dagger.File, error) {
		platform, err := env.Client.DefaultPlatform(ctx)
		if err != nil {
			return nil, fmt.Errorf("asking the engine for its platform: %w", err)
		}
		return p.Publisher(ctx, platform)
	})
	go get()
	return get
}
