// Package cli is `go run ./ci`: it parses and validates every input, reads
// the git context, connects to the Dagger engine and runs the pipeline.
package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"dagger.io/dagger"
	"github.com/spf13/pflag"

	"github.com/gantry-ci/gantry/ci/internal/dockerfile"
	"github.com/gantry-ci/gantry/ci/internal/gitinfo"
	"github.com/gantry-ci/gantry/ci/internal/graph"
	"github.com/gantry-ci/gantry/ci/internal/images"
	"github.com/gantry-ci/gantry/ci/internal/labels"
	"github.com/gantry-ci/gantry/ci/internal/layercache"
	"github.com/gantry-ci/gantry/ci/internal/options"
	"github.com/gantry-ci/gantry/ci/internal/origin"
	"github.com/gantry-ci/gantry/ci/internal/pipeline"
	"github.com/gantry-ci/gantry/ci/internal/project"
	"github.com/gantry-ci/gantry/ci/internal/runcache"
	"github.com/gantry-ci/gantry/ci/internal/signing"
	"github.com/gantry-ci/gantry/ci/internal/summary"
	"github.com/gantry-ci/gantry/ci/internal/tags"
	"github.com/gantry-ci/gantry/ci/internal/upload"
)

// Run runs the pipeline that decl declares and returns the process exit
// code.
func Run(ctx context.Context, decl project.Project, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) > 0 && args[0] == "verify" {
		return runVerify(ctx, args[1:], stdout, stderr, getenv)
	}
	decl = decl.WithDefaults()
	if err := decl.Validate(); err != nil {
		fmt.Fprintf(stderr, "gantry: %v\n", err)
		return pipeline.ExitUsage
	}
	opts := options.New(getenv, declared(decl))
	fs := pflag.NewFlagSet("gantry", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	opts.Bind(fs)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprintf(stdout, "Usage: go run ./ci [flags]\n       go run ./ci verify IMAGE [flags]   (see verify --help)\n\nBuilds, tests, smoke-tests, scans, signs and publishes the image. Flags:\n%s", fs.FlagUsages())
			return pipeline.ExitOK
		}
		fmt.Fprintf(stderr, "gantry: %v (see --help)\n", err)
		return pipeline.ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gantry: unexpected argument %q: gantry takes only flags (see --help)\n", fs.Arg(0))
		return pipeline.ExitUsage
	}
	in, err := prepare(ctx, decl, opts, getenv)
	if err != nil {
		var ue *options.UsageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "gantry: %v\n", err)
			return pipeline.ExitUsage
		}
		fmt.Fprintf(stderr, "gantry: %v\n", err)
		return pipeline.ExitInternal
	}
	start := time.Now()
	in.started = start
	if in.dbDigest, err = pipeline.DBDigest(ctx, in.images); err != nil {
		fmt.Fprintf(stderr, "gantry: warning: %v; the scan uses a DB cached for at most a day\n", err)
	}
	if in.dbDigest != "" {
		if in.key, err = runKey(in); err != nil {
			fmt.Fprintf(stderr, "gantry: the run cache and the run record are off for this run: %v\n", err)
		}
	}
	cache, cacheOK := openRunCache(in, stderr)
	if cacheOK && !opts.Rerun {
		if s, ok := cachedRun(ctx, cache, in.key, in, stdout); ok {
			report(stdout, getenv, s)
			fmt.Fprintf(stdout, "gantry: done in %s\n", time.Since(start).Round(10*time.Millisecond))
			return pipeline.ExitOK
		}
	}

	useLayerCache(in)
	client, disconnect, err := connect(ctx, opts.EngineTimeout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "gantry: %v\n", err)
		return pipeline.ExitInternal
	}
	defer closeSession(in, disconnect, stdout)
	env := pipeline.Env{Client: client, Images: in.images, RunID: in.id}
	layers := probeLayerCache(ctx, env, in, stdout, stderr)
	plan := in.plan(client)
	var outcome pipeline.Outcome
	var promoted string
	// The registry's signed record of this commit: a run with these exact
	// inputs passed (nothing to do), or a release promotes its digest.
	seal, looked := findSealed(ctx, env, in, plan)
	if looked {
		if s, ok := recorded(ctx, in, seal, stdout); ok {
			s.LayerCache = <-layers
			report(stdout, getenv, s)
			fmt.Fprintf(stdout, "gantry: done in %s\n", time.Since(start).Round(100*time.Millisecond))
			return pipeline.ExitOK
		}
	}
	var pr pipeline.Promotion
	promote := false
	if looked && isRelease(in) {
		pr, promote = promotion(in, seal, stdout)
	}
	if promote {
		outcome, err = pipeline.Promote(ctx, env, plan, pr, stdout)
		promoted = pr.Line()
	} else {
		outcome, err = pipeline.Run(ctx, env, plan, stdout)
	}
	s := summarize(in, outcome)
	s.LayerCache = <-layers
	report(stdout, getenv, s)
	if err != nil {
		var f *graph.Failure
		if errors.As(err, &f) {
			fmt.Fprintf(stderr, "gantry: %s failed: %v\n", f.Stage, f.Err)
			return f.Code
		}
		fmt.Fprintf(stderr, "gantry: %v\n", err)
		return pipeline.ExitInternal
	}
	if cacheOK {
		var reports []string
		if outcome.Scan != nil {
			reports = outcome.Scan.Reports
		}
		// What was hashed must be what was tested: a file edited during the
		// run may have been uploaded in either state.
		if now, err := runKey(in); err != nil || now != in.key {
			fmt.Fprintf(stderr, "gantry: warning: the source changed during the run; not recording it in the run cache\n")
		} else if err := cache.Store(runcache.Entry{Key: in.key, Finished: time.Now(), Summary: s}, reports); err != nil {
			fmt.Fprintf(stderr, "gantry: warning: recording the run in the run cache: %v\n", err)
		}
	}
	if promoted != "" {
		fmt.Fprintln(stdout, promoted)
	}
	fmt.Fprintf(stdout, "gantry: done in %s\n", time.Since(start).Round(100*time.Millisecond))
	return pipeline.ExitOK
}

// inputs is everything a run is decided from, read before the engine is
// contacted.
type inputs struct {
	opts     *options.Options
	images   images.Set
	sha      string
	ref      string
	tags     tags.Plan
	labels   map[string]string
	runtime  dockerfile.Stage
	token    string
	secrets  map[string]string // build secrets by id, read from the environment
	sign     signing.Plan
	id       string
	uploads  upload.Plan
	dbDigest string // of the Trivy DB; empty if it could not be read
	key      string // the run key (see runKey); empty if it could not be computed
	dirty    bool   // the work tree has uncommitted changes (--allow-dirty)
	getenv   func(string) string
	started  time.Time
	decl     project.Project // with its defaults
	gantry   origin.Module   // the sources this program was built from
	// projectImages are the project's images (gantry.Images), by name,
	// with the image set's replacements applied.
	projectImages map[string]string
}

// declared are the project's defaults for what flags change for one run.
func declared(p project.Project) options.Declared {
	return options.Declared{TestModules: p.TestModules, Severity: p.Scan.Severities, IgnoreUnfixed: p.Scan.IgnoreUnfixed,
		Platforms: p.Build.Platforms}
}

// prepare validates the inputs and computes everything that needs no engine.
func prepare(ctx context.Context, decl project.Project, opts *options.Options, getenv func(string) string) (*inputs, error) {
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
	return &inputs{opts: opts, images: set, sha: git.SHA, ref: git.Ref, tags: plan, labels: lbls, runtime: runtime,
		token: token, secrets: secrets, sign: sign, id: newRunID(), uploads: up, getenv: getenv, dirty: len(git.Dirty) > 0, decl: decl, gantry: gantry, projectImages: projectImages}, nil
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
func (in *inputs) testInput(client *dagger.Client) pipeline.TestInput {
	t := pipeline.TestInput{Modules: in.uploads.TestModules(client, in.opts.Source)}
	if pg := in.decl.TestPostgres; pg != nil {
		t.PostgresURLEnv = pg.URLEnv
	}
	for _, c := range in.decl.TestCommands {
		pc := pipeline.Command{Name: c.Name, Image: in.projectImages[c.Image], Run: c.Run, Dir: c.Dir, Env: c.Env,
			Source: in.uploads.Repo.Directory(client, in.opts.Source)}
		for _, s := range c.Services {
			pc.Services = append(pc.Services, pipeline.Service{Name: s.Name, Image: in.projectImages[s.Image], Port: s.Port, Env: s.Env, Args: s.Args})
		}
		t.Commands = append(t.Commands, pc)
	}
	return t
}

// buildArgs are the Dockerfile's build args: the project's and its images,
// then Gantry's pinned images, the version and commit it stamps, and the
// namespace of its cache mounts (the project can't declare those:
// project.ReservedArgs).
func (in *inputs) buildArgs() []dagger.BuildArg {
	var args []dagger.BuildArg
	for _, k := range slices.Sorted(maps.Keys(in.decl.Build.Args)) {
		args = append(args, dagger.BuildArg{Name: k, Value: in.decl.Build.Args[k]})
	}
	for _, k := range slices.Sorted(maps.Keys(in.projectImages)) {
		args = append(args, dagger.BuildArg{Name: k, Value: in.projectImages[k]})
	}
	return append(args,
		dagger.BuildArg{Name: "GO_IMAGE", Value: in.images.Go},
		dagger.BuildArg{Name: "RUNTIME_IMAGE", Value: in.images.Runtime},
		dagger.BuildArg{Name: "VERSION", Value: in.tags.Version},
		dagger.BuildArg{Name: "COMMIT", Value: in.sha},
		dagger.BuildArg{Name: layercache.MountNamespaceArg, Value: layercache.MountNamespace(layerCacheDirection(in))},
	)
}

// buildSecrets are the build secrets as Dagger secrets, named by their ids
// (the engine mounts each at /run/secrets/ID).
func (in *inputs) buildSecrets(client *dagger.Client) []*dagger.Secret {
	var out []*dagger.Secret
	for _, id := range slices.Sorted(maps.Keys(in.secrets)) {
		out = append(out, client.SetSecret(id, in.secrets[id]))
	}
	return out
}

// newRunID is unique per run (see pipeline.Env.RunID).
func newRunID() string {
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

// plan turns the inputs into the pipeline's plan. The uploads become lazy
// Dagger values: nothing is sent until a stage needs it.
func (in *inputs) plan(client *dagger.Client) pipeline.Plan {
	o := in.opts
	p := pipeline.Plan{
		Test: in.testInput(client),
		Build: pipeline.BuildInput{
			Context:    in.uploads.Context.Directory(client, o.Source),
			Dockerfile: in.decl.Build.Dockerfile,
			Target:     in.decl.Build.Target,
			Secrets:    in.buildSecrets(client),
			Args:       in.buildArgs(),
			Labels:     in.labels,
			Platforms:  o.Platforms,
		},
		Smoke: pipeline.SmokeInput{Healthcheck: in.runtime.Healthcheck, Contract: in.decl.Smoke},
		Scan: pipeline.ScanInput{Severity: o.Severity, IgnoreUnfixed: o.IgnoreUnfixed, Covers: in.decl.Scan.Covers,
			ReportDir: o.ReportDir, MaxDBAge: o.MaxDBAge},
		TrivyDB: pipeline.TrivyDB{Digest: in.dbDigest, Day: time.Now().UTC().Format("2006-01-02")},
		Publish: pipeline.PublishInput{Repository: o.Registry + "/" + o.Image, Tags: in.tags.Tags, Flavor: in.tags.Flavor, Version: in.tags.Version,
			Username: o.Username, Healthcheck: in.runtime.Healthcheck},
	}
	if in.uploads.Trivyignore {
		p.Scan.Ignorefile = client.Host().File(filepath.Join(o.Source, upload.Trivyignore))
	}
	if o.SkipTests {
		p.SkipTests = "--skip-tests"
	}
	switch {
	case o.DryRun:
		p.SkipPublish = "--dry-run"
	case in.tags.Skip != "":
		p.SkipPublish = in.tags.Skip
	default:
		p.Publish.Token = client.SetSecret("gantry-registry-token", in.token)
		p.Publisher = pipeline.HostPublisher(client, in.gantry.Dir)
		if p.Publish.Sign = in.signing(client); p.Publish.Sign != nil {
			facts := in.facts()
			p.Publish.Attest = &facts
		}
		if o.Latest == options.LatestAuto {
			p.Publish.LatestGuard = func(ctx context.Context, rev string) (bool, string) {
				return gitinfo.LatestGuard(ctx, o.Source, in.sha, rev)
			}
		}
	}
	return p
}

// signing is the publish stage's signing: the key as secrets, or a
// keyless token source; nil when the run is unsigned.
func (in *inputs) signing(client *dagger.Client) *pipeline.Signing {
	if k := in.sign.Key; k != nil {
		return &pipeline.Signing{Key: client.SetSecret("gantry-sign-key", string(k.Private))}
	}
	k := in.sign.Keyless
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
			return client.SetSecret(fmt.Sprintf("gantry-id-token-%s-%d", in.id, n.Add(1)), tok), nil
		}}
}

// connect reaches the engine within timeout; dagger.Connect alone can block
// for minutes when the engine can't start.
func connect(ctx context.Context, timeout time.Duration, logs io.Writer) (*dagger.Client, func(), error) {
	type result struct {
		c   *dagger.Client
		err error
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// The session subprocess lives as long as sessionCtx.
	sessionCtx, cancelSession := context.WithCancel(ctx)
	ch := make(chan result, 1)
	go func() {
		c, err := dagger.Connect(sessionCtx, dagger.WithLogOutput(logs))
		ch <- result{c, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			cancelSession()
			return nil, nil, fmt.Errorf("connecting to the Dagger engine: %w (is Docker running? `docker info` should answer)", r.err)
		}
		return r.c, func() { r.c.Close(); cancelSession() }, nil
	case <-cctx.Done():
		// Cancelling closes the session's stdin, which asks it to exit; the
		// SDK's Connect itself may not return for minutes, so don't wait.
		cancelSession()
		return nil, nil, fmt.Errorf("the Dagger engine did not answer within --engine-timeout %s: is Docker running (`docker info`)? is _EXPERIMENTAL_DAGGER_RUNNER_HOST right?", timeout)
	}
}

// imageName is the image as the summary names it.
func imageName(o *options.Options) string {
	if o.Image == "" {
		return "unnamed image (dry run)"
	}
	return o.Registry + "/" + o.Image
}

func summarize(in *inputs, o pipeline.Outcome) summary.Summary {
	s := summary.Summary{Image: imageName(in.opts), Gating: in.opts.Severity, Wall: o.Wall}
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
		s.Digest = p.Digest
		s.Refs = p.Refs
		what := "the image"
		if n := len(p.Signed); n > 1 {
			what = fmt.Sprintf("the index and its %d platform manifests", n-1)
		}
		switch {
		case len(p.Signed) > 0 && in.sign.Key != nil:
			s.Signing = fmt.Sprintf("Signed with key `%s`: %s. Attested: %s.", in.sign.Key.ID, what, strings.Join(p.Attestations, ", "))
		case len(p.Signed) > 0 && in.sign.Keyless != nil:
			k := in.sign.Keyless
			tlog := "Entered in the transparency log " + k.RekorURL + "."
			if k.RekorURL == "" {
				tlog = "Not in a transparency log (--rekor-url off): the signatures verify only while the certificate is valid (minutes)."
			}
			s.Signing = fmt.Sprintf("Signed keyless as `%s` (OIDC issuer `%s`, certificate from %s): %s. %s Attested: %s.",
				p.Identity, p.Issuer, k.FulcioURL, what, tlog, strings.Join(p.Attestations, ", "))
		default:
			s.Signing = "**Unsigned**: " + in.sign.Unsigned
		}
	}
	return s
}

// report prints the summary, and in GitHub Actions also writes the job
// summary and step outputs.
func report(stdout io.Writer, getenv func(string) string, s summary.Summary) {
	md := summary.Markdown(s)
	fmt.Fprintf(stdout, "\n%s\n", md)
	if p := getenv("GITHUB_STEP_SUMMARY"); p != "" {
		appendFile(p, md, stdout)
	}
	if p := getenv("GITHUB_OUTPUT"); p != "" && s.Digest != "" {
		var b strings.Builder
		summary.Outputs(&b, s)
		appendFile(p, b.String(), stdout)
	}
}

func appendFile(path, text string, warn io.Writer) {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err == nil {
		_, err = f.WriteString(text)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(warn, "warning: writing %s: %v\n", path, err)
	}
}
