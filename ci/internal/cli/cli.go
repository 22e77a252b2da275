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
	"os"
	"path/filepath"
	"strings"
	"time"

	"dagger.io/dagger"
	"github.com/spf13/pflag"

	"github.com/gantry-ci/gantry/ci/internal/dockerfile"
	"github.com/gantry-ci/gantry/ci/internal/gitinfo"
	"github.com/gantry-ci/gantry/ci/internal/images"
	"github.com/gantry-ci/gantry/ci/internal/labels"
	"github.com/gantry-ci/gantry/ci/internal/options"
	"github.com/gantry-ci/gantry/ci/internal/pipeline"
	"github.com/gantry-ci/gantry/ci/internal/runcache"
	"github.com/gantry-ci/gantry/ci/internal/summary"
	"github.com/gantry-ci/gantry/ci/internal/tags"
)

// Descriptive labels of the image Gantry ships.
const (
	description = "Gantry example service: echo + pgx on PostgreSQL"
	license     = "MIT"
)

// Run runs the pipeline and returns the process exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	opts := options.New(getenv)
	fs := pflag.NewFlagSet("gantry", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	opts.Bind(fs)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprintf(stdout, "Usage: go run ./ci [flags]\n\nBuilds, tests, smoke-tests, scans and publishes the image. Flags:\n%s", fs.FlagUsages())
			return pipeline.ExitOK
		}
		fmt.Fprintf(stderr, "gantry: %v (see --help)\n", err)
		return pipeline.ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gantry: unexpected argument %q: gantry takes only flags (see --help)\n", fs.Arg(0))
		return pipeline.ExitUsage
	}
	run, err := prepare(ctx, opts, getenv)
	if err != nil {
		var ue *options.UsageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "gantry: %v\n", err)
			return pipeline.ExitUsage
		}
		fmt.Fprintf(stderr, "gantry: %v\n", err)
		return pipeline.ExitInternal
	}
	run.Out = stdout
	start := time.Now()
	if run.DBDigest, err = pipeline.DBDigest(ctx, run.Images); err != nil {
		fmt.Fprintf(stderr, "gantry: warning: %v; the scan uses a DB cached for at most a day\n", err)
	}
	cache, key, cacheOK := openRunCache(run, stderr)
	if cacheOK && !opts.Rerun {
		if s, ok := cachedRun(ctx, cache, key, run, stdout); ok {
			report(stdout, getenv, s)
			fmt.Fprintf(stdout, "gantry: done in %s\n", time.Since(start).Round(10*time.Millisecond))
			return pipeline.ExitOK
		}
	}

	client, disconnect, err := connect(ctx, opts.EngineTimeout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "gantry: %v\n", err)
		return pipeline.ExitInternal
	}
	defer disconnect()
	run.Client = client
	run.Source = client.Host().Directory(opts.Source, dagger.HostDirectoryOpts{Exclude: sourceExcludes(opts)})
	run.Context = run.Source
	if ex := contextExcludes(opts.Source); ex != nil {
		// Uploaded on its own so that a change the image can't see (docs,
		// ci/) leaves the build, and the scan of its result, cached.
		run.Context = client.Host().Directory(opts.Source, dagger.HostDirectoryOpts{Exclude: ex})
	}

	err = pipeline.Execute(ctx, run, pipeline.Stages())
	s := summarize(run)
	report(stdout, getenv, s)
	if err != nil {
		var f *pipeline.Failure
		if errors.As(err, &f) {
			fmt.Fprintf(stderr, "gantry: %s failed: %v\n", f.Stage, f.Err)
			return f.Code
		}
		fmt.Fprintf(stderr, "gantry: %v\n", err)
		return pipeline.ExitInternal
	}
	if cacheOK {
		var reports []string
		if run.Scan != nil {
			reports = run.Scan.Reports
		}
		if err := cache.Store(runcache.Entry{Key: key, Finished: time.Now(), Summary: s}, reports); err != nil {
			fmt.Fprintf(stderr, "gantry: warning: recording the run in the run cache: %v\n", err)
		}
	}
	fmt.Fprintf(stdout, "gantry: done in %s\n", time.Since(start).Round(100*time.Millisecond))
	return pipeline.ExitOK
}

// prepare validates the inputs and computes everything that needs no engine.
func prepare(ctx context.Context, opts *options.Options, getenv func(string) string) (*pipeline.Run, error) {
	if err := opts.Validate(getenv); err != nil {
		return nil, err
	}
	set, err := images.Load(opts.ImagesFile)
	if err != nil {
		return nil, &options.UsageError{Msg: fmt.Sprintf("--images: %v", err)}
	}
	df, err := os.ReadFile(filepath.Join(opts.Source, "Dockerfile"))
	if err != nil {
		return nil, &options.UsageError{Msg: fmt.Sprintf("--source %s: %v: it must be the repository root, with the Dockerfile", opts.Source, err)}
	}
	runtime, err := dockerfile.Runtime(string(df))
	if err != nil {
		return nil, &options.UsageError{Msg: fmt.Sprintf("reading %s: %v", filepath.Join(opts.Source, "Dockerfile"), err)}
	}
	git, err := gitinfo.Read(ctx, opts.Source, opts.SHA, opts.Ref)
	if err != nil {
		return nil, &options.UsageError{Msg: err.Error()}
	}
	if opts.Publishing() && len(git.Dirty) > 0 && !opts.AllowDirty {
		return nil, &options.UsageError{Msg: fmt.Sprintf("the work tree has %d uncommitted change(s) (first: %q): commit them, pass --allow-dirty, or use --dry-run", len(git.Dirty), strings.TrimSpace(git.Dirty[0]))}
	}
	plan, err := tags.Decide(tags.Context{Event: opts.Event, Ref: git.Ref, SHA: git.SHA,
		DefaultBranch: opts.DefaultBranch, Latest: opts.Latest, Releases: git.Tags})
	if err != nil {
		return nil, err
	}
	image := opts.Image
	if image == "" {
		image = "gantry"
	}
	lbls, err := labels.OCI(labels.Input{Repository: opts.Repository, Image: image, SHA: git.SHA, CommitTime: git.CommitTime,
		Version: plan.Version, Description: description, License: license})
	if err != nil {
		return nil, err
	}
	id := make([]byte, 8)
	rand.Read(id)
	return &pipeline.Run{Opts: opts, Images: set, SHA: git.SHA, Plan: plan, Labels: lbls, Runtime: runtime,
		Token: getenv(opts.TokenEnv), ID: hex.EncodeToString(id)}, nil
}

// contextExcludes are the source's .dockerignore patterns, nil without one.
func contextExcludes(source string) []string {
	data, err := os.ReadFile(filepath.Join(source, ".dockerignore"))
	if err != nil {
		return nil // no .dockerignore (or unreadable): the build applies what it finds
	}
	return dockerfile.ContextExcludes(string(data))
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

func summarize(r *pipeline.Run) summary.Summary {
	s := summary.Summary{Image: r.Opts.Registry + "/" + r.Opts.Image, Gating: r.Opts.Severity}
	if r.Opts.Image == "" {
		s.Image = "unnamed image (dry run)"
	}
	for _, st := range r.Results {
		s.Stages = append(s.Stages, summary.Stage{Name: st.Stage, Status: st.Status, Detail: st.Detail, Duration: st.Duration})
	}
	if r.Scan != nil {
		s.Scanned = true
		s.Counts = r.Scan.Decision.Counts
		s.Findings = r.Scan.Report.Findings
		s.Reports = r.Scan.Reports
	}
	if r.Published != nil {
		s.Digest = r.Published.Digest
		s.Refs = r.Published.Refs
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
