// Package pipeline is Gantry's CI pipeline: an ordered list of stages run on
// a Dagger engine. Each stage runs only if every earlier one passed.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"dagger.io/dagger"

	"github.com/gantry-ci/gantry/ci/internal/dockerfile"
	"github.com/gantry-ci/gantry/ci/internal/images"
	"github.com/gantry-ci/gantry/ci/internal/options"
	"github.com/gantry-ci/gantry/ci/internal/push"
	"github.com/gantry-ci/gantry/ci/internal/scanreport"
	"github.com/gantry-ci/gantry/ci/internal/tags"
)

// Exit codes, one per way a run can end (documented in the README).
const (
	ExitOK           = 0
	ExitInternal     = 1 // engine unreachable, internal error, interrupted
	ExitUsage        = 2
	ExitTest         = 3
	ExitBuild        = 4
	ExitSmoke        = 5
	ExitScanFindings = 6
	ExitScanError    = 7
	ExitPublish      = 8
)

// Stages is the pipeline, in order.
func Stages() []Stage {
	return []Stage{
		// go vet and go test of the workspace, against a PostgreSQL service.
		{Name: "test", Code: ExitTest, Skip: skipTests, Run: test},
		// The Dockerfile, once per platform, with OCI labels.
		{Name: "build", Code: ExitBuild, Run: build},
		// The native image as a service against PostgreSQL: healthy, then
		// unhealthy once the database stops; non-root, with a healthcheck.
		{Name: "smoke", Code: ExitSmoke, Run: smoke},
		// Trivy on every platform's image; the gate reads its JSON report.
		{Name: "scan", Code: ExitScanError, Run: scan},
		// One push by digest, then every tag; skipped by --dry-run and on PRs.
		{Name: "publish", Code: ExitPublish, Skip: skipPublish, Run: publish},
	}
}

// Stage is one step of the pipeline.
type Stage struct {
	Name string
	Code int               // exit code when the stage fails, unless its error says otherwise
	Skip func(*Run) string // non-empty: skipped, and why
	Run  func(context.Context, *Run) error
}

// Run is one pipeline run: its inputs, and what the stages produce.
type Run struct {
	Opts     *options.Options
	Images   images.Set
	Client   *dagger.Client
	Source   *dagger.Directory
	Context  *dagger.Directory // the build context: Source filtered by .dockerignore
	SHA      string
	Plan     tags.Plan
	Labels   map[string]string
	Runtime  dockerfile.Stage
	Token    string
	DBDigest string    // of the Trivy DB; empty if it could not be read
	ID       string    // unique per run: keeps Dagger from reusing probe and publish results
	Out      io.Writer // one line per stage, summaries

	// Produced by the stages.
	Built     map[string]*dagger.Container // by platform
	Native    string                       // the engine's platform, smoke-tested
	Scan      *ScanResult
	Published *push.Result
	Results   []Result

	publisherBin publisherOnce // shared by warm and the publish stage
}

// ScanResult is the scan stage's verdict.
type ScanResult struct {
	Report   scanreport.Report
	Decision scanreport.Decision
	Reports  []string // files written to --report-dir
}

// Result is a stage's outcome.
type Result struct {
	Stage    string
	Status   string // passed, failed, skipped
	Detail   string
	Duration time.Duration
}

// Failure is a stage failing with a specific exit code.
type Failure struct {
	Stage string
	Code  int
	Err   error
}

func (f *Failure) Error() string { return fmt.Sprintf("%s: %v", f.Stage, f.Err) }
func (f *Failure) Unwrap() error { return f.Err }

// failWith makes a stage exit with code instead of its default.
func failWith(code int, err error) error { return &Failure{Code: code, Err: err} }

// Execute runs the stages in order and stops at the first failure, which it
// returns as a *Failure.
func Execute(ctx context.Context, r *Run, stages []Stage) error {
	if r.Client != nil {
		defer warm(ctx, r)()
	}
	for _, s := range stages {
		if s.Skip != nil {
			if why := s.Skip(r); why != "" {
				r.Results = append(r.Results, Result{Stage: s.Name, Status: "skipped", Detail: why})
				fmt.Fprintf(r.Out, "gantry: %-8s skipped (%s)\n", s.Name, why)
				continue
			}
		}
		fmt.Fprintf(r.Out, "gantry: %-8s started\n", s.Name)
		start := time.Now()
		err := s.Run(ctx, r)
		d := time.Since(start).Round(100 * time.Millisecond)
		if err != nil {
			f := &Failure{Stage: s.Name, Code: s.Code, Err: err}
			var sf *Failure
			if errors.As(err, &sf) {
				f.Code, f.Err = sf.Code, sf.Err
			}
			if ctx.Err() != nil || engineLost(err) {
				f.Code = ExitInternal
			}
			r.Results = append(r.Results, Result{Stage: s.Name, Status: "failed", Detail: firstLine(f.Err.Error()), Duration: d})
			fmt.Fprintf(r.Out, "gantry: %-8s FAILED after %s\n", s.Name, d)
			return f
		}
		r.Results = append(r.Results, Result{Stage: s.Name, Status: "passed", Duration: d})
		fmt.Fprintf(r.Out, "gantry: %-8s passed in %s\n", s.Name, d)
	}
	return nil
}

// engineLost reports an error of the connection to the engine rather than
// of the stage's work: the engine died or restarted under the run.
func engineLost(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "http://dagger/query") || strings.Contains(msg, "dial-stdio")
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}
