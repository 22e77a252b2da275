// Package pipeline is Gantry's CI pipeline: typed stages on a Dagger engine,
// run as a graph so that what doesn't depend on each other runs at once.
// This file wires the stages, in pipeline order; each has a file of its own.
package pipeline

import (
	"context"
	"errors"
	"io"
	"net/url"
	"time"

	"dagger.io/dagger"
	"github.com/Khan/genqlient/graphql"

	"github.com/gantry-ci/gantry/ci/internal/actions"
	"github.com/gantry-ci/gantry/ci/internal/graph"
	"github.com/gantry-ci/gantry/ci/internal/images"
	"github.com/gantry-ci/gantry/ci/internal/push"
)

// Exit codes, one per way a run can end (documented in docs/pipeline.md).
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
	ExitUnverified   = 9 // verify: a check failed
)

// Env is what every stage shares, read-only.
type Env struct {
	Client *dagger.Client
	Images images.Set
	// RunID is unique per run: it keeps Dagger from reusing the results of
	// probes and publishes, which must happen every time.
	RunID string
}

// Plan is a run's input, decided before any stage runs.
type Plan struct {
	SkipTests   string // non-empty: the test stage is skipped, and why
	Test        TestInput
	Build       BuildInput
	Smoke       SmokeInput // without Image and DB: they come from the build and Run
	Scan        ScanInput  // without Images and DB: they come from the build and TrivyDB
	TrivyDB     TrivyDB
	SkipPublish string        // non-empty: nothing is published, and why
	Publish     PublishInput  // without Images and Publisher
	Publisher   PublisherFunc // compiles gantry-publish; started in the background
	// FoldLogs writes each stage's log as a group that GitHub Actions
	// folds.
	FoldLogs bool
	// Observe, when set, is told each stage's status as it changes (a live
	// display on a terminal).
	Observe func(stage, status string, took time.Duration)
}

// Outcome is what a run produced, for the summary.
type Outcome struct {
	Results   []graph.Result // in pipeline order
	Scan      *ScanResult    // nil if the scan did not run to a verdict
	Published *push.Result   // nil unless published
	Wall      time.Duration
}

// Run runs the pipeline. The error is a *graph.Failure naming the first
// failed stage in pipeline order, with its exit code.
func Run(ctx context.Context, env Env, p Plan, out io.Writer) (Outcome, error) {
	start := time.Now()
	g := graph.New(ctx, out, graphOptions(p)...)
	db := trivyDB(env, p.TrivyDB)
	publisher := startPublisher(g.Context(), env, p)
	defer warm(g.Context(), env, db)()
	// Smoke's database, if the contract has one, starts while the build
	// runs (it initialises a data directory: a few seconds off smoke's
	// critical path).
	pg := smokeDB(g.Context(), env, p.Smoke.Contract)
	if pg.Service != nil {
		defer func() {
			pg.Wait()
			pg.Stop(context.WithoutCancel(ctx), dagger.ServiceStopOpts{Kill: true})
		}()
	}

	// go vet and go test of what ships (the service and the pipeline), with
	// a PostgreSQL service for the service's integration tests.
	test := stage(g, "test", ExitTest, p.SkipTests, nil, func(ctx context.Context, log io.Writer) (TestResult, error) {
		return Test(ctx, env, p.Test, log)
	})
	// The Dockerfile for every platform at once, with OCI labels.
	build := graph.Go(g, "build", ExitBuild, nil, func(ctx context.Context, log io.Writer) (Built, error) {
		return Build(ctx, env, p.Build)
	})
	// The native image as a service, with its dependencies, against the
	// project's contract: ready, its checks, its own shell-free
	// healthcheck, its answer once the database stops; its user.
	smoke := graph.Go(g, "smoke", ExitSmoke, deps(build), func(ctx context.Context, log io.Writer) (none, error) {
		in := p.Smoke
		in.Image, in.DB = build.Value().Native(), pg
		return none{}, Smoke(ctx, env, in, log)
	})
	// Trivy on every platform's image, alongside smoke; the gate reads its
	// JSON reports.
	scan := graph.Go(g, "scan", ExitScanError, deps(build), func(ctx context.Context, log io.Writer) (*ScanResult, error) {
		in := p.Scan
		in.Images, in.DB = build.Value().Images, db
		return Scan(ctx, env, in, log)
	})
	// Once every gate passed: one push by digest, then every tag.
	publish := stage(g, "publish", ExitPublish, p.SkipPublish, deps(test, build, smoke, scan), func(ctx context.Context, log io.Writer) (*push.Result, error) {
		in := p.Publish
		in.Images, in.Scan = build.Value().Images, scan.Value()
		if in.Attest != nil {
			// The provenance names the Go caches the tests compiled: a
			// later run that verifies it may start from them.
			a := *in.Attest
			a.GoCaches = test.Value().GoCaches
			in.Attest = &a
		}
		return publishWith(ctx, env, in, publisher, log)
	})

	results, err := g.Wait()
	return Outcome{Results: results, Scan: scan.Value(), Published: publish.Value(), Wall: time.Since(start)}, err
}

// publishWith publishes once the publisher compiled in the background is
// ready.
func publishWith(ctx context.Context, env Env, in PublishInput, publisher func() (*dagger.File, error), log io.Writer) (*push.Result, error) {
	bin, err := publisher()
	if err != nil {
		return nil, graph.WithCode(ExitInternal, err)
	}
	in.Publisher = bin
	return Publish(ctx, env, in, log)
}

// graphOptions are the graph's: the exit codes, and in GitHub Actions a
// folded group per stage's log and a line every 30 s for each stage still
// running (a folded log shows nothing else until a stage ends).
func graphOptions(p Plan) []graph.Option {
	opts := []graph.Option{graph.WithClassifier(classify)}
	if p.Observe != nil {
		opts = append(opts, graph.WithObserver(p.Observe))
	}
	if p.FoldLogs {
		opts = append(opts, graph.WithLogBlock(func(w io.Writer, stage string, log []byte) {
			actions.Group(w, "gantry: "+stage, string(log))
		}), graph.WithHeartbeat(graph.Every(30*time.Second)))
	}
	return opts
}

type none struct{}

func deps(d ...graph.Dep) []graph.Dep { return d }

// stage declares a stage that is skipped when skip says why.
func stage[T any](g *graph.Graph, name string, code int, skip string, d []graph.Dep, f func(context.Context, io.Writer) (T, error)) *graph.Stage[T] {
	if skip != "" {
		return graph.Skip[T](g, name, skip)
	}
	return graph.Go(g, name, code, d, f)
}

// classify makes a lost engine an internal error rather than the verdict of
// the stage that happened to be waiting on it.
func classify(err error, code int) int {
	if EngineLost(err) {
		return ExitInternal
	}
	return code
}

// EngineLost reports an error of the connection to the engine rather than
// an answer from it. The SDK returns a *graphql.HTTPError when the session
// answers with a non-200 status (502 once the engine is gone) and a
// *url.Error when the session itself can't be reached; an engine that
// answered, even with a failed exec, returns GraphQL errors instead.
func EngineLost(err error) bool {
	var httpErr *graphql.HTTPError
	var urlErr *url.Error
	return errors.As(err, &httpErr) || errors.As(err, &urlErr)
}
