// Package runplan decides what one run of the pipeline does, before the
// engine is contacted: it validates the inputs, reads the git context,
// the secrets and the signing plan, plans the uploads, and turns all of
// it into the pipeline's plan, the attested facts and the summary. Package
// cli only parses flags, wires this to the engine and maps errors to exit
// codes.
package runplan

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"dagger.io/dagger"

	"github.com/gantry-ci/gantry/ci/internal/dockerfile"
	"github.com/gantry-ci/gantry/ci/internal/gitinfo"
	"github.com/gantry-ci/gantry/ci/internal/images"
	"github.com/gantry-ci/gantry/ci/internal/labels"
	"github.com/gantry-ci/gantry/ci/internal/layercache"
	"github.com/gantry-ci/gantry/ci/internal/options"
	"github.com/gantry-ci/gantry/ci/internal/origin"
	"github.com/gantry-ci/gantry/ci/internal/pipeline"
	"github.com/gantry-ci/gantry/ci/internal/project"
	"github.com/gantry-ci/gantry/ci/internal/signing"
	"github.com/gantry-ci/gantry/ci/internal/summary"
	"github.com/gantry-ci/gantry/ci/internal/tags"
	"github.com/gantry-ci/gantry/ci/internal/upload"
)

// Run is everything one run is decided from, read before the engine is
// contacted.
type Run struct {
	Opts     *options.Options
	Images   images.Set
	SHA      string
	Ref      string
	Tags     tags.Plan
	Labels   map[string]string
	Runtime  dockerfile.Stage
	Token    string
	Secrets  map[string]string // build secrets by id, read from the environment
	Sign     signing.Plan
	ID       string
	Uploads  upload.Plan
	DBDigest string // of the Trivy DB; empty if it could not be read
	Key      string // the run key (Digest); empty if it could not be computed
	Dirty    bool   // the work tree has uncommitted changes (--allow-dirty)
	Getenv   func(string) string
	Started  time.Time
	Decl     project.Project // with its defaults
	Gantry   origin.Module   // the sources this program was built from
	// ProjectImages are the project's images (gantry.Images), by name,
	// with the image set's replacements applied.
	ProjectImages map[string]string
	// Ancestors are the commit's first parents, nearest first
	// (gitinfo.Info.Ancestors).
	Ancestors []string
}

// Declared are the project's defaults for what flags change for one run.
func Declared(p project.Project) options.Declared {
	return options.Declared{TestModules: p.TestModules, Severity: p.Scan.Severities, IgnoreUnfixed: p.Scan.IgnoreUnfixed,
		Platforms: p.Build.Platforms}
}

// Prepare validates the inputs and decides everything that needs no engine.
func Prepare(ctx context.Context, decl project.Project, opts *options.Options, getenv func(string) string) (*Run, error) {
	// The token reaches the engine only as a Dagger secret: no process that
	// Gantry starts (git, go build, the Dagger CLI) inherits it.
	token := getenv(opts.TokenEnv)
	if opts.TokenEnv != "" {
		os.Unsetenv(opts.TokenEnv)
	}
	env := func(k string) string {
		if k == opts.TokenEnv {
			return token
		}
		return getenv(k)
	}
	if err := opts.Validate(env); err != nil {
		return nil, err
	}
	// The scan's reports go there after the graph: a directory that can't
	// be made fails now, not after a publish.
	if err := os.MkdirAll(opts.ReportDir, 0o755); err != nil {
		return nil, &options.UsageError{Msg: fmt.Sprintf("--report-dir: %v: choose a directory this user can write", err)}
	}
	// Build secrets go the same way. Read through env: one may be the
	// token, which is out of the environment by now.
	secrets, err := readBuildSecrets(decl.Build.Secrets, env)
	if err != nil {
		return nil, err
	}
	// The key's password, and a key given as env://VAR, go the same way.
	password, hasPassword := lookup(getenv, "COSIGN_PASSWORD")
	os.Unsetenv("COSIGN_PASSWORD")
	keyEnv := func(k string) string { return getenv(k) }
	if v, ok := strings.CutPrefix(opts.SignKey, "env://"); ok {
		pem := getenv(v)
		os.Unsetenv(v)
		keyEnv = func(string) string { return pem }
	}
	// So does the request token of GitHub's OIDC service.
	oidc := signing.ActionsFromEnv(getenv)
	os.Unsetenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
	rekor := opts.RekorURL
	if opts.RekorOff() {
		rekor = ""
	}
	sign, err := signing.Decide(ctx, signing.Input{Mode: opts.Sign, KeyRef: opts.SignKey, Password: password, HasPassword: hasPassword,
		OIDC: oidc, FulcioURL: opts.FulcioURL, RekorURL: rekor, RekorDefault: opts.RekorDefault(), DefaultBranch: opts.DefaultBranch, Publishing: opts.Publishing(), Now: time.Now, Getenv: keyEnv})
	if err != nil {
		return nil, &options.UsageError{Msg: err.Error()}
	}
	set, err := images.Load(opts.ImagesFile)
	if err != nil {
		return nil, &options.UsageError{Msg: fmt.Sprintf("--images: %v", err)}
	}
	// Where `go run ./ci` ran, the go command finds the Gantry it built.
	gantry, err := origin.Find(ctx, "")
	if err != nil {
		return nil, &options.UsageError{Msg: err.Error()}
	}
	dfPath := filepath.Join(opts.Source, decl.Build.Dockerfile)
	df, err := os.ReadFile(dfPath)
	if err != nil {
		return nil, &options.UsageError{Msg: fmt.Sprintf("--source %s: %v: it must be the repository root, with the Dockerfile at %s (gantry.Build.Dockerfile)", opts.Source, err, decl.Build.Dockerfile)}
	}
	runtime, err := dockerfile.Runtime(string(df), decl.Build.Target)
	if err != nil {
		return nil, &options.UsageError{Msg: fmt.Sprintf("reading %s: %v", dfPath, err)}
	}
	if len(opts.TestModules) == 0 && len(decl.TestCommands) == 0 {
		return nil, &options.UsageError{Msg: "--test-modules is empty and the project declares no test commands: name a Go module to test, e.g. --test-modules . (or gantry.Test in ci/main.go)"}
	}
	projectImages, err := set.ForProject(decl.Images)
	if err != nil {
		return nil, &options.UsageError{Msg: fmt.Sprintf("--images: %v", err)}
	}
	up, err := upload.New(upload.Input{Source: opts.Source, ReportDir: opts.ReportDir, TestModules: opts.TestModules,
		Dockerfile: decl.Build.Dockerfile, WithRepo: len(decl.TestCommands) > 0})
	if err != nil {
		return nil, &options.UsageError{Msg: err.Error()}
	}
	git, err := gitinfo.Read(ctx, opts.Source, opts.SHA, opts.Ref)
	if err != nil {
		return nil, &options.UsageError{Msg: err.Error()}
	}
	if opts.Publishing() && len(git.Dirty) > 0 && !opts.AllowDirty {
		return nil, &options.UsageError{Msg: fmt.Sprintf("the work tree has %d uncommitted change(s) (first: %q): commit them, pass --allow-dirty, or use --dry-run", len(git.Dirty), strings.TrimSpace(git.Dirty[0]))}
	}
	plan, err := tags.Decide(tags.Context{Event: opts.Event, Ref: git.Ref, SHA: git.SHA, Rules: decl.Tags,
		DefaultBranch: opts.DefaultBranch, Latest: opts.Latest, Releases: git.Tags})
	if err != nil {
		return nil, err
	}
	if lc := opts.LayerCache; lc != "off" {
		for _, t := range plan.Tags {
			if lc == opts.Registry+"/"+opts.Image+":"+t {
				return nil, &options.UsageError{Msg: fmt.Sprintf("--layer-cache %s is a tag this run publishes: give the cache a tag of its own, e.g. :%s", lc, layercache.DefaultTag)}
			}
		}
	}
	image := opts.Image
	if image == "" {
		image = "gantry"
	}
	lbls, err := labels.OCI(labels.Input{Repository: opts.Repository, Image: image, SHA: git.SHA, CommitTime: git.CommitTime,
		Version: plan.Version, Title: decl.Title, Description: decl.Description, License: decl.Licenses,
		Vendor: decl.Vendor, Documentation: decl.Documentation})
	if err != nil {
		return nil, err
	}
	return &Run{Opts: opts, Images: set, SHA: git.SHA, Ref: git.Ref, Tags: plan, Labels: lbls, Runtime: runtime,
		Token: token, Secrets: secrets, Sign: sign, ID: NewRunID(), Uploads: up, Getenv: getenv, Dirty: len(git.Dirty) > 0, Decl: decl, Gantry: gantry, ProjectImages: projectImages,
		Ancestors: git.Ancestors}, nil
}

// readBuildSecrets reads the declared build secrets (id -> variable) from
// the environment and takes them out of it, so that no process Gantry
// starts inherits them. An empty one is a usage error.
func readBuildSecrets(declared map[string]string, getenv func(string) string) (map[string]string, error) {
	secrets := map[string]string{}
	for _, id := range slices.Sorted(maps.Keys(declared)) {
		v := declared[id]
		if secrets[id] = getenv(v); secrets[id] == "" {
			return nil, &options.UsageError{Msg: fmt.Sprintf("the build secret %s (gantry.Build.Secrets) is read from $%s, which is empty or unset: set it (in GitHub Actions, from a secret of the job's environment)", id, v)}
		}
		os.Unsetenv(v)
	}
	return secrets, nil
}

// testInput is the test stage's: the Go modules' uploads, and the test
// commands with the repository's and their images resolved.
func (in *Run) testInput(client *dagger.Client) pipeline.TestInput {
	t := pipeline.TestInput{Modules: in.Uploads.TestModules(client, in.Opts.Source)}
	if pg := in.Decl.TestPostgres; pg != nil {
		t.PostgresURLEnv = pg.URLEnv
	}
	for _, c := range in.Decl.TestCommands {
		pc := pipeline.Command{Name: c.Name, Image: in.ProjectImages[c.Image], Run: c.Run, Dir: c.Dir, Env: c.Env,
			Source: in.Uploads.Repo.Directory(client, in.Opts.Source)}
		pc.Services = in.services(c.Services)
		t.Commands = append(t.Commands, pc)
	}
	return t
}

// services are declared services with their images resolved.
func (in *Run) services(declared []project.Service) []pipeline.Service {
	var out []pipeline.Service
	for _, s := range declared {
		out = append(out, pipeline.Service{Name: s.Name, Image: in.ProjectImages[s.Image], Port: s.Port, Env: s.Env, Args: s.Args})
	}
	return out
}

// BuildArgs are the Dockerfile's build args: the project's and its images,
// then Gantry's pinned images, the version and commit it stamps, and the
// namespace of its cache mounts (the project can't declare those:
// project.ReservedArgs).
func (in *Run) BuildArgs() []dagger.BuildArg {
	var args []dagger.BuildArg
	for _, k := range slices.Sorted(maps.Keys(in.Decl.Build.Args)) {
		args = append(args, dagger.BuildArg{Name: k, Value: in.Decl.Build.Args[k]})
	}
	for _, k := range slices.Sorted(maps.Keys(in.ProjectImages)) {
		args = append(args, dagger.BuildArg{Name: k, Value: in.ProjectImages[k]})
	}
	return append(args,
		dagger.BuildArg{Name: "GO_IMAGE", Value: in.Images.Go},
		dagger.BuildArg{Name: "RUNTIME_IMAGE", Value: in.Images.Runtime},
		dagger.BuildArg{Name: "VERSION", Value: in.Tags.Version},
		dagger.BuildArg{Name: "COMMIT", Value: in.SHA},
		dagger.BuildArg{Name: layercache.MountNamespaceArg, Value: layercache.MountNamespace(layercache.For(in.Opts.Publishing()))},
	)
}

// buildSecrets are the build secrets as Dagger secrets, named by their ids
// (the engine mounts each at /run/secrets/ID).
func (in *Run) buildSecrets(client *dagger.Client) []*dagger.Secret {
	var out []*dagger.Secret
	for _, id := range slices.Sorted(maps.Keys(in.Secrets)) {
		out = append(out, client.SetSecret(id, in.Secrets[id]))
	}
	return out
}

// NewRunID is unique per run (see pipeline.Env.RunID).
func NewRunID() string {
	id := make([]byte, 8)
	rand.Read(id)
	return hex.EncodeToString(id)
}

// lookup tells an empty variable from an unset one where getenv is the
// process's own (an empty COSIGN_PASSWORD is a valid password).
func lookup(getenv func(string) string, k string) (string, bool) {
	if v := getenv(k); v != "" {
		return v, true
	}
	_, set := os.LookupEnv(k)
	return "", set
}

// Pipeline turns the run into the pipeline's plan. The uploads become lazy
// Dagger values: nothing is sent until a stage needs it.
func (in *Run) Pipeline(client *dagger.Client) pipeline.Plan {
	o := in.Opts
	p := pipeline.Plan{
		Test: in.testInput(client),
		Build: pipeline.BuildInput{
			Context:    in.Uploads.Context.Directory(client, o.Source),
			Dockerfile: in.Decl.Build.Dockerfile,
			Target:     in.Decl.Build.Target,
			Secrets:    in.buildSecrets(client),
			Args:       in.BuildArgs(),
			Labels:     in.Labels,
			Platforms:  o.Platforms,
		},
		Smoke: pipeline.SmokeInput{Healthcheck: in.Runtime.Healthcheck, Contract: in.Decl.Smoke, Services: in.services(in.Decl.Smoke.Services)},
		Scan: pipeline.ScanInput{Severity: o.Severity, IgnoreUnfixed: o.IgnoreUnfixed, Covers: in.Decl.Scan.Covers,
			ReportDir: o.ReportDir, MaxDBAge: o.MaxDBAge},
		TrivyDB: pipeline.TrivyDB{Digest: in.DBDigest, Day: time.Now().UTC().Format("2006-01-02")},
		Publish: pipeline.PublishInput{Repository: o.Registry + "/" + o.Image, Tags: in.Tags.Tags, Flavor: in.Tags.Flavor, Version: in.Tags.Version,
			Username: o.Username, Healthcheck: in.Runtime.Healthcheck},
	}
	p.FoldLogs = in.Getenv("GITHUB_ACTIONS") == "true"
	if in.Uploads.Trivyignore {
		p.Scan.Ignorefile = client.Host().File(filepath.Join(o.Source, upload.Trivyignore))
	}
	if o.SkipTests {
		p.SkipTests = "--skip-tests"
	}
	switch {
	case o.DryRun:
		p.SkipPublish = "--dry-run"
	case in.Tags.Skip != "":
		p.SkipPublish = in.Tags.Skip
	default:
		p.Publish.Token = client.SetSecret("gantry-registry-token", in.Token)
		p.Publisher = pipeline.HostPublisher(client, in.Gantry.Dir)
		if p.Publish.Sign = in.signing(client); p.Publish.Sign != nil {
			facts := in.Facts()
			p.Publish.Attest = &facts
		}
		if o.Latest == options.LatestAuto {
			p.Publish.LatestGuard = func(ctx context.Context, rev string) (bool, string) {
				return gitinfo.LatestGuard(ctx, o.Source, in.SHA, rev)
			}
		}
	}
	return p
}

// signing is the publish stage's signing: the key as secrets, or a
// keyless token source; nil when the run is unsigned.
func (in *Run) signing(client *dagger.Client) *pipeline.Signing {
	if k := in.Sign.Key; k != nil {
		return &pipeline.Signing{Key: client.SetSecret("gantry-sign-key", string(k.Private))}
	}
	k := in.Sign.Keyless
	if k == nil {
		return nil
	}
	var n atomic.Int64
	return &pipeline.Signing{FulcioURL: k.FulcioURL, RekorURL: k.RekorURL,
		IDToken: func(ctx context.Context) (*dagger.Secret, error) {
			tok, err := k.Token(ctx)
			if err != nil {
				return nil, fmt.Errorf("keyless signing: %w", err)
			}
			// A name per token: a secret's name is its identity.
			return client.SetSecret(fmt.Sprintf("gantry-id-token-%s-%d", in.ID, n.Add(1)), tok), nil
		}}
}

// ImageName is the image as the summary names it.
func ImageName(o *options.Options) string {
	if o.Image == "" {
		return "unnamed image (dry run)"
	}
	return o.Registry + "/" + o.Image
}

// packageURL is the image's page on GitHub, for GHCR: under the repository
// its source label links it to. "" elsewhere.
func packageURL(o *options.Options) string {
	owner, name, ok := strings.Cut(o.Image, "/")
	if o.Registry != "ghcr.io" || o.Repository == "" || !ok || !strings.EqualFold(owner, strings.Split(o.Repository, "/")[0]) {
		return ""
	}
	return "https://github.com/" + o.Repository + "/pkgs/container/" + url.PathEscape(name)
}

// rekorEntries links each of a transparency log's entries: on Sigstore's
// public Rekor, its search page; on another, its API's entry.
func rekorEntries(rekorURL string, indexes []int64) string {
	if len(indexes) == 0 {
		return ""
	}
	var links []string
	for _, i := range indexes {
		link := strings.TrimSuffix(rekorURL, "/") + "/api/v1/log/entries?logIndex=" + strconv.FormatInt(i, 10)
		if rekorURL == options.DefaultRekorURL {
			link = "https://search.sigstore.dev/?logIndex=" + strconv.FormatInt(i, 10)
		}
		links = append(links, fmt.Sprintf("[%d](%s)", i, link))
	}
	return " (entries " + strings.Join(links, ", ") + ")"
}

// verifyCommand is the gantry-verify command a deployer runs to check
// what this run published, by digest: the key or the keyless identity it
// was signed with, the repository and the commit.
func (in *Run) verifyCommand(digest string) string {
	o := in.Opts
	if o.Repository == "" || (in.Sign.Key == nil && in.Sign.Keyless == nil) {
		return ""
	}
	args := []string{"gantry-verify"}
	if in.Sign.Key != nil {
		args = append(args, "--key", "cosign.pub")
	}
	args = append(args, "--repository", o.Repository, "--commit", in.SHA, o.Registry+"/"+o.Image+"@"+digest)
	return strings.Join(args, " ")
}

// Summarize is the run's summary, from the pipeline's outcome.
func (in *Run) Summarize(o pipeline.Outcome) summary.Summary {
	s := summary.Summary{Image: ImageName(in.Opts), Gating: in.Opts.Severity, Wall: o.Wall, Version: in.Tags.Version, Labels: in.Labels}
	for _, st := range o.Results {
		s.Stages = append(s.Stages, summary.Stage{Name: st.Stage, Status: st.Status, Detail: st.Detail, Duration: st.Duration})
	}
	if o.Scan != nil {
		s.Scanned = true
		s.Counts = o.Scan.Decision.Counts
		s.Findings = o.Scan.Report.Findings
		s.Reports = o.Scan.Reports
	}
	if p := o.Published; p != nil {
		s.Held = p.Held
		s.PackageURL = packageURL(in.Opts)
		s.Verify = in.verifyCommand(p.Digest)
		s.Digest, s.ImageID = p.Digest, p.ImageID
		s.Refs = p.Refs
		what := "the image"
		if n := len(p.Signed); n > 1 {
			what = fmt.Sprintf("the index and its %d platform manifests", n-1)
		}
		switch {
		case len(p.Signed) > 0 && in.Sign.Key != nil:
			s.Signing = fmt.Sprintf("Signed with key `%s`: %s. Attested: %s.", in.Sign.Key.ID, what, strings.Join(p.Attestations, ", "))
		case len(p.Signed) > 0 && in.Sign.Keyless != nil:
			k := in.Sign.Keyless
			tlog := "Entered in the transparency log " + k.RekorURL + rekorEntries(k.RekorURL, p.LogIndexes) + "."
			if k.RekorURL == "" {
				tlog = "Not in a transparency log (--rekor-url off): the signatures verify only while the certificate is valid (minutes)."
			}
			s.Signing = fmt.Sprintf("Signed keyless as `%s` (OIDC issuer `%s`, certificate from %s): %s. %s Attested: %s.",
				p.Identity, p.Issuer, k.FulcioURL, what, tlog, strings.Join(p.Attestations, ", "))
		default:
			s.Signing = "**Unsigned**: " + in.Sign.Unsigned
		}
	}
	return s
}
