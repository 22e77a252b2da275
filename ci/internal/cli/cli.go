// Package cli is `go run ./ci`: it parses the flags, has package runplan
// decide the run, connects to the Dagger engine, runs the pipeline (or a
// promotion) and maps the outcome to an exit code. The run cache's and the
// run record's lookups, and the layer cache's session, are still here.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"dagger.io/dagger"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/gantry-ci/gantry/ci/internal/actions"
	"github.com/gantry-ci/gantry/ci/internal/codescanning"
	"github.com/gantry-ci/gantry/ci/internal/graph"
	"github.com/gantry-ci/gantry/ci/internal/options"
	"github.com/gantry-ci/gantry/ci/internal/pipeline"
	"github.com/gantry-ci/gantry/ci/internal/progress"
	"github.com/gantry-ci/gantry/ci/internal/project"
	"github.com/gantry-ci/gantry/ci/internal/reuse"
	"github.com/gantry-ci/gantry/ci/internal/runcache"
	"github.com/gantry-ci/gantry/ci/internal/runplan"
	"github.com/gantry-ci/gantry/ci/internal/summary"
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
	inActions := getenv("GITHUB_ACTIONS") == "true"
	if inActions {
		// GitHub shows warnings on the run's page, not only in its log.
		stderr = actions.Warnings(stderr, "gantry: warning: ", "gantry")
	}
	opts := options.New(getenv, runplan.Declared(decl))
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
	in, err := runplan.Prepare(ctx, decl, opts, getenv)
	if err != nil {
		var ue *options.UsageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "gantry: %v\n", err)
			return pipeline.ExitUsage
		}
		fmt.Fprintf(stderr, "gantry: %v\n", err)
		return pipeline.ExitInternal
	}
	// With --output json, stdout carries the run report alone.
	rep := reporter{stdout: stdout, getenv: getenv, dir: opts.ReportDir, json: opts.Output == "json"}
	if rep.json {
		stdout = stderr
	}
	// On a terminal, the stages show live under what the run prints, and
	// the engine's log, which would scroll through them, goes to a file.
	var engineLog io.Writer = stderr
	live := liveTerminal(stdout, stderr, getenv, rep.json)
	if live != nil {
		f, err := os.Create(filepath.Join(opts.ReportDir, "engine.log"))
		if err != nil {
			live = nil
		} else {
			defer f.Close()
			engineLog, stdout, stderr = f, live, live
			ticker := time.NewTicker(time.Second)
			defer ticker.Stop()
			defer live.Animate(ticker.C)()
			fmt.Fprintf(stdout, "gantry: the Dagger engine's log: %s\n", f.Name())
		}
	}
	rep.text = stdout
	start := time.Now()
	in.Started = start
	if in.DBDigest, err = pipeline.DBDigest(ctx, in.Images); err != nil {
		fmt.Fprintf(stderr, "gantry: warning: %v; the scan uses a DB cached for at most a day\n", err)
	}
	if in.DBDigest != "" {
		if in.Key, err = in.Digest(); err != nil {
			fmt.Fprintf(stderr, "gantry: the run cache and the run record are off for this run: %v\n", err)
		}
	}
	cache, cacheOK := reuse.OpenRunCache(in, stderr)
	if cacheOK && !opts.Rerun {
		if s, ok := reuse.CachedRun(ctx, cache, in.Key, in, stdout); ok {
			rep.report(s, pipeline.ExitOK)
			fmt.Fprintf(stdout, "gantry: done in %s\n", time.Since(start).Round(10*time.Millisecond))
			return pipeline.ExitOK
		}
	}

	useLayerCache(in)
	client, disconnect, err := connect(ctx, opts.EngineTimeout, engineLog)
	if err != nil {
		fmt.Fprintf(stderr, "gantry: %v\n", err)
		return pipeline.ExitInternal
	}
	defer closeSession(in, disconnect, stdout)
	env := pipeline.Env{Client: client, Images: in.Images, RunID: in.ID}
	plan := in.Pipeline(client)
	plan.Test.GoCaches = reuse.GoCaches(env, in, plan)
	// One publisher for the run: whoever asks first compiles it.
	publisher := plan.Publisher
	if publisher == nil {
		publisher = pipeline.HostPublisher(client, in.Gantry.Dir)
	}
	layers := probeLayerCache(ctx, env, in, publisher, stdout, stderr)
	if live != nil {
		plan.Observe = live.Stage
	}
	var outcome pipeline.Outcome
	var promoted string
	// The registry's signed record of this commit: a run with these exact
	// inputs passed (nothing to do), or a release promotes its digest.
	seal, looked := reuse.FindSealed(ctx, env, in, plan)
	if looked {
		if s, ok := reuse.Recorded(ctx, in, seal, stdout); ok {
			s.LayerCache = <-layers
			rep.report(s, pipeline.ExitOK)
			fmt.Fprintf(stdout, "gantry: done in %s\n", time.Since(start).Round(100*time.Millisecond))
			return pipeline.ExitOK
		}
	}
	var pr pipeline.Promotion
	promote := false
	if looked && reuse.IsRelease(in) {
		pr, promote = reuse.Promotion(in, seal, stdout)
	}
	if promote {
		outcome, err = pipeline.Promote(ctx, env, plan, pr, stdout)
		promoted = pr.Line()
	} else {
		outcome, err = pipeline.Run(ctx, env, plan, stdout)
	}
	// The reports are written once the graph is done: no stage writes on
	// the host. A failed scan has them too.
	exported := true
	if outcome.Scan != nil {
		if xerr := outcome.Scan.ExportReports(context.WithoutCancel(ctx), opts.ReportDir); xerr != nil {
			fmt.Fprintf(stderr, "gantry: warning: writing the scan's reports to --report-dir %s: %v\n", opts.ReportDir, xerr)
			exported = false
		}
	}
	if exported && opts.UploadSARIF && outcome.Scan != nil {
		uploadSARIF(ctx, in, outcome.Scan.Reports, stdout, stderr)
	}
	s := in.Summarize(outcome)
	s.LayerCache = <-layers
	rep.report(s, exitCode(err))
	if err != nil {
		var f *graph.Failure
		if errors.As(err, &f) {
			fmt.Fprintf(stderr, "gantry: %s failed: %v\n", f.Stage, f.Err)
			if inActions {
				// The cause on the run's page; the stage's log, folded
				// above, has the rest.
				actions.Error(stdout, fmt.Sprintf("gantry: %s failed (exit %d)", f.Stage, f.Code), f.Err.Error())
			}
			return f.Code
		}
		fmt.Fprintf(stderr, "gantry: %v\n", err)
		return pipeline.ExitInternal
	}
	if cacheOK && exported {
		var reports []string
		if outcome.Scan != nil {
			reports = outcome.Scan.Reports
		}
		// What was hashed must be what was tested: a file edited during the
		// run may have been uploaded in either state.
		if now, err := in.Digest(); err != nil || now != in.Key {
			fmt.Fprintf(stderr, "gantry: warning: the source changed during the run; not recording it in the run cache\n")
		} else if err := cache.Store(runcache.Entry{Key: in.Key, Finished: time.Now(), Summary: s}, reports); err != nil {
			fmt.Fprintf(stderr, "gantry: warning: recording the run in the run cache: %v\n", err)
		}
	}
	if promoted != "" {
		fmt.Fprintln(stdout, promoted)
	}
	fmt.Fprintf(stdout, "gantry: done in %s\n", time.Since(start).Round(100*time.Millisecond))
	return pipeline.ExitOK
}

// liveTerminal is the live display of the stages when stdout and stderr
// are both a terminal, outside GitHub Actions and a JSON run, and
// GANTRY_PROGRESS is not "plain"; else nil: plain lines.
func liveTerminal(stdout, stderr io.Writer, getenv func(string) string, json bool) *progress.Terminal {
	if json || getenv("GITHUB_ACTIONS") == "true" || getenv("TERM") == "dumb" || getenv("GANTRY_PROGRESS") == "plain" {
		return nil
	}
	for _, w := range []io.Writer{stdout, stderr} {
		if f, ok := w.(*os.File); !ok || !term.IsTerminal(int(f.Fd())) {
			return nil
		}
	}
	return progress.New(stdout, time.Now)
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

// uploadSARIF sends the scan's SARIF reports to the repository's code
// scanning. A failure is a warning: the findings are in the reports and
// the summary, and the run's verdict is the gate's.
func uploadSARIF(ctx context.Context, in *runplan.Run, reports []string, stdout, stderr io.Writer) {
	o := in.Opts
	u := codescanning.Upload{APIURL: o.APIURL, Repository: o.Repository, Token: in.Token, Commit: in.SHA, Ref: in.Ref,
		Reports: map[string][]byte{}}
	for _, p := range reports {
		name := filepath.Base(p)
		if !strings.HasPrefix(name, "trivy-") || !strings.HasSuffix(name, ".sarif") {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			fmt.Fprintf(stderr, "gantry: warning: code scanning: %v\n", err)
			return
		}
		u.Reports[strings.TrimSuffix(strings.TrimPrefix(name, "trivy-"), ".sarif")] = data
	}
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	id, err := u.Do(uctx)
	if err != nil {
		fmt.Fprintf(stderr, "gantry: warning: %v\n", err)
		return
	}
	fmt.Fprintf(stdout, "gantry: uploaded the scan's findings to code scanning (%s, %s, upload %s)\n", in.Ref, in.SHA[:12], id)
	// As codeql-action does: GitHub checks the SARIF after it took it.
	pctx, pcancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Minute)
	defer pcancel()
	if err := u.Processed(pctx, id, codescanning.Pauses, time.After); err != nil {
		fmt.Fprintf(stderr, "gantry: warning: %v\n", err)
		return
	}
	fmt.Fprintf(stdout, "gantry: code scanning processed upload %s\n", id)
}

// exitCode is the process's exit code for the pipeline's error.
func exitCode(err error) int {
	var f *graph.Failure
	switch {
	case err == nil:
		return pipeline.ExitOK
	case errors.As(err, &f):
		return f.Code
	}
	return pipeline.ExitInternal
}

// reporter reports a run's outcome: the Markdown summary on the text
// stream, run.json in the report dir, the JSON report alone on stdout
// with --output json, and in GitHub Actions the job summary and the step
// outputs.
type reporter struct {
	stdout, text io.Writer
	getenv       func(string) string
	dir          string
	json         bool
}

func (r reporter) report(s summary.Summary, code int) {
	md := summary.Markdown(s)
	fmt.Fprintf(r.text, "\n%s\n", md)
	data, err := json.MarshalIndent(summary.JSON(s, code), "", "  ")
	if err == nil {
		err = os.WriteFile(filepath.Join(r.dir, "run.json"), append(data, '\n'), 0o644)
	}
	if err != nil {
		fmt.Fprintf(r.text, "gantry: warning: writing run.json to --report-dir %s: %v\n", r.dir, err)
	}
	if r.json {
		r.stdout.Write(append(data, '\n'))
	}
	if p := r.getenv("GITHUB_STEP_SUMMARY"); p != "" {
		appendFile(p, md, r.text)
	}
	if p := r.getenv("GITHUB_OUTPUT"); p != "" && s.Digest != "" {
		var b strings.Builder
		actions.WriteOutputs(&b, summary.Outputs(s))
		appendFile(p, b.String(), r.text)
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
