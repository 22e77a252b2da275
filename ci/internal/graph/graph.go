// Package graph runs a pipeline's stages concurrently: each stage starts as
// soon as the stages it depends on have passed, the first failure cancels
// everything still running, and the results come back in declaration order.
//
// A stage's multi-line output goes to its own log, which is printed whole
// when the stage ends, so stages that run at the same time never interleave
// their output; only the one-line status reports appear as things happen.
package graph

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Statuses of a stage.
const (
	Passed    = "passed"
	Failed    = "failed"
	Skipped   = "skipped"   // not wanted for this run (--dry-run, --skip-tests)
	Cancelled = "cancelled" // stopped, or never started, because another stage failed

	// What a stage is before its result, for an observer.
	Waiting = "waiting" // declared, waiting for the stages it depends on
	Running = "running"
)

// Result is a stage's outcome.
type Result struct {
	Stage    string
	Status   string
	Detail   string // why it was skipped or cancelled, or the first line of its error
	Duration time.Duration
	Err      error // set when Failed
	Code     int   // exit code when Failed
}

// Failure is a stage failing with its exit code.
type Failure struct {
	Stage string
	Code  int
	Err   error
}

func (f *Failure) Error() string { return fmt.Sprintf("%s: %v", f.Stage, f.Err) }
func (f *Failure) Unwrap() error { return f.Err }

// WithCode makes a stage fail with code instead of its default exit code.
func WithCode(code int, err error) error { return &Failure{Code: code, Err: err} }

// Graph is one run of stages. Create it with New, declare stages with Go and
// Skip in pipeline order, then call Wait once.
type Graph struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	out    io.Writer
	now    func() time.Time
	// Classify may turn a stage's error into another exit code, e.g. a lost
	// engine into an internal error. It returns code unchanged otherwise.
	classify func(err error, code int) int
	// block writes a stage's log; nil writes it as it is.
	block func(w io.Writer, stage string, log []byte)
	// ticks, when set, makes a ticker per running stage: each tick
	// prints that the stage is still running.
	ticks func() (<-chan time.Time, func())
	// observe, when set, is told each stage's status as it changes.
	observe func(stage, status string, took time.Duration)

	mu    sync.Mutex // guards out and nodes
	nodes []*node
	wg    sync.WaitGroup
}

// Option configures a Graph.
type Option func(*Graph)

// WithClock replaces time.Now for stage durations (tests).
func WithClock(now func() time.Time) Option { return func(g *Graph) { g.now = now } }

// WithClassifier lets the caller map a stage's error to an exit code.
func WithClassifier(f func(err error, code int) int) Option {
	return func(g *Graph) { g.classify = f }
}

// WithLogBlock has f write each stage's log, e.g. folded for a CI's log
// viewer; the status line follows it.
func WithLogBlock(f func(w io.Writer, stage string, log []byte)) Option {
	return func(g *Graph) { g.block = f }
}

// WithHeartbeat prints a line for each stage still running at each tick
// of a ticker that ticker makes (a time.Ticker's channel and its Stop), so
// a long stage shows it is alive in a log that is not a terminal.
func WithHeartbeat(ticker func() (<-chan time.Time, func())) Option {
	return func(g *Graph) { g.ticks = ticker }
}

// WithObserver has observe told each stage's status as it changes: Waiting
// when declared, Running, then its result with how long it ran (Skipped
// when declared so). A live display on a terminal draws from it.
func WithObserver(observe func(stage, status string, took time.Duration)) Option {
	return func(g *Graph) { g.observe = observe }
}

// Every is a heartbeat ticker of period d.
func Every(d time.Duration) func() (<-chan time.Time, func()) {
	return func() (<-chan time.Time, func()) {
		t := time.NewTicker(d)
		return t.C, t.Stop
	}
}

// New returns a graph whose stages run under ctx and report to out.
func New(ctx context.Context, out io.Writer, opts ...Option) *Graph {
	ctx, cancel := context.WithCancelCause(ctx)
	g := &Graph{ctx: ctx, cancel: cancel, out: out, now: time.Now,
		classify: func(_ error, code int) int { return code }}
	for _, o := range opts {
		o(g)
	}
	return g
}

// Context is cancelled when a stage fails or the parent is cancelled; work
// started alongside the stages (warm-ups) should use it.
func (g *Graph) Context() context.Context { return g.ctx }

type node struct {
	name   string
	code   int
	done   chan struct{}
	result Result
}

// Dep is a stage another stage waits for.
type Dep interface{ node() *node }

// Stage is a declared stage whose value dependents can read.
type Stage[T any] struct {
	n   *node
	val T
}

func (s *Stage[T]) node() *node { return s.n }

// Value is the stage's result. Call it only from a stage that lists s as a
// dependency (it has passed by then), or after Wait.
func (s *Stage[T]) Value() T {
	<-s.n.done
	return s.val
}

func (g *Graph) add(name string, code int) *node {
	n := &node{name: name, code: code, done: make(chan struct{})}
	g.mu.Lock()
	g.nodes = append(g.nodes, n)
	g.mu.Unlock()
	return n
}

// Skip declares a stage that does not run in this run, and why.
func Skip[T any](g *Graph, name, why string) *Stage[T] {
	s := &Stage[T]{n: g.add(name, 0)}
	s.n.result = Result{Stage: name, Status: Skipped, Detail: why}
	g.notify(name, Skipped, 0)
	g.print(name, fmt.Sprintf("gantry: %-8s skipped (%s)\n", name, why), nil)
	close(s.n.done)
	return s
}

// Go declares a stage named name that runs f once every stage in deps has
// passed or was skipped. If one of them failed or was cancelled, f never
// runs and the stage is cancelled. f writes its multi-line output to log.
// A failing f fails the stage with code (or the code of a Failure it
// returns) and cancels every other stage.
func Go[T any](g *Graph, name string, code int, deps []Dep, f func(ctx context.Context, log io.Writer) (T, error)) *Stage[T] {
	s := &Stage[T]{n: g.add(name, code)}
	g.notify(name, Waiting, 0)
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		defer close(s.n.done)
		s.n.result = g.run(s.n, deps, func(ctx context.Context, log io.Writer) error {
			v, err := f(ctx, log)
			s.val = v
			return err
		})
		g.notify(name, s.n.result.Status, s.n.result.Duration)
	}()
	return s
}

func (g *Graph) run(n *node, deps []Dep, f func(context.Context, io.Writer) error) Result {
	for _, d := range deps {
		dn := d.node()
		select {
		case <-dn.done:
		case <-g.ctx.Done():
			return g.cancelled(n, g.reason())
		}
		if st := dn.result.Status; st != Passed && st != Skipped {
			return g.cancelled(n, dn.name+" did not pass")
		}
	}
	if g.ctx.Err() != nil {
		return g.cancelled(n, g.reason())
	}
	g.notify(n.name, Running, 0)
	g.print(n.name, fmt.Sprintf("gantry: %-8s started\n", n.name), nil)
	var log bytes.Buffer
	start := g.now()
	stopBeat := func() {}
	if g.ticks != nil {
		stopBeat = g.heartbeat(n.name, start)
	}
	err := f(g.ctx, &log)
	stopBeat() // before the status line: no beat after it
	d := g.now().Sub(start).Round(100 * time.Millisecond)
	if err == nil {
		g.print(n.name, fmt.Sprintf("gantry: %-8s passed in %s\n", n.name, d), &log)
		return Result{Stage: n.name, Status: Passed, Duration: d}
	}
	if g.stopped(err) {
		// Stopped by another stage's failure or an interrupt: its error is
		// a symptom, not a verdict. Any other error is a failure of its own,
		// even if it came in after another stage's.
		g.print(n.name, fmt.Sprintf("gantry: %-8s cancelled after %s (%s)\n", n.name, d, g.reason()), &log)
		return Result{Stage: n.name, Status: Cancelled, Detail: g.reason(), Duration: d}
	}
	code := n.code
	var sf *Failure
	if errors.As(err, &sf) {
		code, err = sf.Code, sf.Err
	}
	code = g.classify(err, code)
	g.cancel(fmt.Errorf("%s failed", n.name))
	g.print(n.name, fmt.Sprintf("gantry: %-8s FAILED after %s\n", n.name, d), &log)
	return Result{Stage: n.name, Status: Failed, Detail: firstLine(err.Error()), Duration: d, Err: err, Code: code}
}

// heartbeat prints that stage is running at each tick until stop is
// called; stop returns once no more lines can come.
func (g *Graph) heartbeat(stage string, start time.Time) (stop func()) {
	ticks, stopTicker := g.ticks()
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			case at := <-ticks: // a ticker's tick carries its time
				g.print(stage, fmt.Sprintf("gantry: %-8s running for %s\n", stage, at.Sub(start).Round(time.Second)), nil)
			}
		}
	}()
	return func() {
		stopTicker()
		close(done)
		<-finished
	}
}

// stopped reports whether err is the graph's cancellation reaching a stage:
// net/http reports a cancelled request with the context's cause, so the
// cause counts as well as context.Canceled.
func (g *Graph) stopped(err error) bool {
	if g.ctx.Err() == nil {
		return false
	}
	cause := context.Cause(g.ctx)
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		(cause != nil && errors.Is(err, cause))
}

func (g *Graph) cancelled(n *node, why string) Result {
	g.print(n.name, fmt.Sprintf("gantry: %-8s cancelled (%s)\n", n.name, why), nil)
	return Result{Stage: n.name, Status: Cancelled, Detail: why}
}

// reason says why the graph's context ended.
func (g *Graph) reason() string {
	if c := context.Cause(g.ctx); c != nil && !errors.Is(c, context.Canceled) {
		return c.Error()
	}
	return "interrupted"
}

func (g *Graph) notify(stage, status string, took time.Duration) {
	if g.observe != nil {
		g.observe(stage, status, took)
	}
}

// print writes a stage's log and then a status line, as one block.
func (g *Graph) print(stage, line string, log *bytes.Buffer) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if log != nil && log.Len() > 0 && g.block != nil {
		g.block(g.out, stage, log.Bytes())
	} else if log != nil && log.Len() > 0 {
		b := log.Bytes()
		g.out.Write(b)
		if b[len(b)-1] != '\n' {
			io.WriteString(g.out, "\n")
		}
	}
	io.WriteString(g.out, line)
}

// Wait waits for every stage and returns their results in declaration
// order. The error is the Failure of the first failed stage in that order,
// or the parent context's error if the run was interrupted.
func (g *Graph) Wait() ([]Result, error) {
	g.wg.Wait()
	g.mu.Lock()
	nodes := g.nodes
	g.mu.Unlock()
	defer g.cancel(nil)
	results := make([]Result, len(nodes))
	var first *Failure
	for i, n := range nodes {
		results[i] = n.result
		if first == nil && n.result.Status == Failed {
			first = &Failure{Stage: n.name, Code: n.result.Code, Err: n.result.Err}
		}
	}
	if first != nil {
		return results, first
	}
	if err := g.ctx.Err(); err != nil {
		return results, fmt.Errorf("interrupted: %w", err)
	}
	return results, nil
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}
