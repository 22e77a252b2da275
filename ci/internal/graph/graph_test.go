package graph

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// frozen is a clock that never moves, so durations print as 0s.
func frozen() Option {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	return WithClock(func() time.Time { return t0 })
}

// within fails the test if ch is not closed soon: a deadline for a stage
// that would otherwise block forever, not a synchronization. A minute, so
// that only a deadlock reaches it, never a loaded machine.
func within(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(time.Minute):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func statuses(rs []Result) string {
	var s []string
	for _, r := range rs {
		s = append(s, r.Stage+"="+r.Status)
	}
	return strings.Join(s, " ")
}

// Two stages without dependencies run at the same time: each waits for the
// other to have started, which deadlocks if they ran one after the other.
func TestIndependentStagesRunConcurrently(t *testing.T) {
	g := New(context.Background(), io.Discard, frozen())
	aStarted, bStarted := make(chan struct{}), make(chan struct{})
	Go(g, "a", 3, nil, func(ctx context.Context, _ io.Writer) (int, error) {
		close(aStarted)
		within(t, bStarted, "b to start while a runs")
		return 1, nil
	})
	Go(g, "b", 4, nil, func(ctx context.Context, _ io.Writer) (int, error) {
		close(bStarted)
		within(t, aStarted, "a to start while b runs")
		return 2, nil
	})
	rs, err := g.Wait()
	if err != nil || statuses(rs) != "a=passed b=passed" {
		t.Fatalf("Wait = %s, %v", statuses(rs), err)
	}
}

// A stage starts only after its dependencies passed, and reads their values.
func TestDependentStageSeesValue(t *testing.T) {
	g := New(context.Background(), io.Discard, frozen())
	release := make(chan struct{})
	build := Go(g, "build", 4, nil, func(ctx context.Context, _ io.Writer) (string, error) {
		within(t, release, "the test to release build")
		return "image", nil
	})
	ranEarly := make(chan struct{}, 1)
	scan := Go(g, "scan", 6, []Dep{build}, func(ctx context.Context, _ io.Writer) (string, error) {
		select {
		case <-release:
		default:
			ranEarly <- struct{}{}
		}
		return "scanned " + build.Value(), nil
	})
	close(release)
	if _, err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if len(ranEarly) > 0 {
		t.Error("scan ran before build was released")
	}
	if got := scan.Value(); got != "scanned image" {
		t.Errorf("scan = %q", got)
	}
}

// The first failure cancels what is running and what has not started; the
// exit code is the failing stage's.
func TestFailureCancelsTheRest(t *testing.T) {
	var out bytes.Buffer
	g := New(context.Background(), &out, frozen())
	buildStarted := make(chan struct{})
	build := Go(g, "build", 4, nil, func(ctx context.Context, _ io.Writer) (int, error) {
		close(buildStarted)
		<-ctx.Done() // a long build, stopped only by the cancellation
		return 0, fmt.Errorf("building: %w", ctx.Err())
	})
	Go(g, "test", 3, nil, func(ctx context.Context, log io.Writer) (int, error) {
		within(t, buildStarted, "build to start")
		fmt.Fprintln(log, "--- FAIL: TestX")
		return 0, errors.New("go test failed")
	})
	published := false
	Go(g, "publish", 8, []Dep{build}, func(ctx context.Context, _ io.Writer) (int, error) {
		published = true
		return 0, nil
	})
	rs, err := g.Wait()
	var f *Failure
	if !errors.As(err, &f) || f.Code != 3 || f.Stage != "test" {
		t.Fatalf("err = %v, want test's failure with code 3", err)
	}
	if got := statuses(rs); got != "build=cancelled test=failed publish=cancelled" {
		t.Errorf("statuses = %s", got)
	}
	if published {
		t.Error("publish ran after a failure")
	}
	if !strings.Contains(out.String(), "--- FAIL: TestX\ngantry: test     FAILED after 0s\n") {
		t.Errorf("the failing stage's log is not printed before its verdict:\n%s", out.String())
	}
}

// A stage waiting on the engine gets the cancellation back from net/http
// as a *url.Error carrying the graph's cause, not context.Canceled; it is
// still cancelled, not failed.
func TestCancelledRequestIsNotAFailure(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer srv.Close()
	g := New(context.Background(), io.Discard, frozen())
	waiting := make(chan struct{})
	Go(g, "smoke", 5, nil, func(ctx context.Context, _ io.Writer) (int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/query", nil)
		if err != nil {
			return 0, err
		}
		close(waiting)
		resp, err := srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
			return 0, errors.New("the request was not cancelled")
		}
		return 0, fmt.Errorf("starting PostgreSQL: %w", err)
	})
	Go(g, "scan", 6, nil, func(ctx context.Context, _ io.Writer) (int, error) {
		within(t, waiting, "smoke to send its request")
		return 0, WithCode(6, errors.New("1 finding"))
	})
	rs, err := g.Wait()
	var f *Failure
	if !errors.As(err, &f) || f.Code != 6 {
		t.Fatalf("err = %v, want scan's code 6", err)
	}
	if got := statuses(rs); got != "smoke=cancelled scan=failed" {
		t.Errorf("statuses = %s", got)
	}
}

// When two stages fail, the exit code is the first one's in pipeline order,
// whichever failed first in time.
func TestFirstFailureInPipelineOrderWins(t *testing.T) {
	g := New(context.Background(), io.Discard, frozen())
	testStarted := make(chan struct{})
	Go(g, "test", 3, nil, func(ctx context.Context, _ io.Writer) (int, error) {
		close(testStarted)
		<-ctx.Done()
		return 0, errors.New("a failing test, reported after build failed")
	})
	Go(g, "build", 4, nil, func(ctx context.Context, _ io.Writer) (int, error) {
		within(t, testStarted, "test to start")
		return 0, errors.New("Dockerfile syntax error")
	})
	rs, err := g.Wait()
	var f *Failure
	if !errors.As(err, &f) || f.Code != 3 {
		t.Fatalf("err = %v, want code 3 (test comes first)", err)
	}
	if got := statuses(rs); got != "test=failed build=failed" {
		t.Errorf("statuses = %s", got)
	}
}

func TestCodes(t *testing.T) {
	lost := errors.New("engine connection lost")
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"stage default", errors.New("boom"), 7},
		{"error carries its own code", WithCode(6, errors.New("2 findings")), 6},
		{"classifier overrides", fmt.Errorf("scanning: %w", lost), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := New(context.Background(), io.Discard, frozen(), WithClassifier(func(err error, code int) int {
				if errors.Is(err, lost) {
					return 1
				}
				return code
			}))
			Go(g, "scan", 7, nil, func(context.Context, io.Writer) (int, error) { return 0, tt.err })
			_, err := g.Wait()
			var f *Failure
			if !errors.As(err, &f) || f.Code != tt.want {
				t.Fatalf("err = %v, want code %d", err, tt.want)
			}
		})
	}
}

// A skipped stage satisfies its dependents.
func TestSkippedDependency(t *testing.T) {
	var out bytes.Buffer
	g := New(context.Background(), &out, frozen())
	test := Skip[struct{}](g, "test", "--skip-tests")
	Go(g, "publish", 8, []Dep{test}, func(context.Context, io.Writer) (int, error) { return 0, nil })
	rs, err := g.Wait()
	if err != nil || statuses(rs) != "test=skipped publish=passed" {
		t.Fatalf("Wait = %s, %v", statuses(rs), err)
	}
	if !strings.Contains(out.String(), "gantry: test     skipped (--skip-tests)\n") {
		t.Errorf("output = %q", out.String())
	}
}

// Stages that run at the same time print their logs as whole blocks: a
// stage's lines stay together even when another stage ends in between.
func TestLogsDoNotInterleave(t *testing.T) {
	var out bytes.Buffer
	g := New(context.Background(), &out, frozen())
	aWrote, bDone := make(chan struct{}), make(chan struct{})
	Go(g, "smoke", 5, nil, func(ctx context.Context, log io.Writer) (int, error) {
		fmt.Fprintln(log, "smoke: line 1")
		close(aWrote)
		within(t, bDone, "scan to finish")
		fmt.Fprintln(log, "smoke: line 2")
		return 0, nil
	})
	b := Go(g, "scan", 6, nil, func(ctx context.Context, log io.Writer) (int, error) {
		within(t, aWrote, "smoke to write")
		fmt.Fprintln(log, "scan: line 1")
		fmt.Fprintln(log, "scan: line 2")
		return 0, nil
	})
	go func() { b.Value(); close(bDone) }() // Value waits for scan to end
	if _, err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	// The start lines come in either order; the rest is fixed.
	got = strings.Replace(got, "gantry: smoke    started\n", "", 1)
	got = strings.Replace(got, "gantry: scan     started\n", "", 1)
	want := "scan: line 1\nscan: line 2\ngantry: scan     passed in 0s\n" +
		"smoke: line 1\nsmoke: line 2\ngantry: smoke    passed in 0s\n"
	if got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
}

// An interrupt cancels every stage, and Wait reports it as such, not as a
// stage's failure.
func TestInterrupt(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	g := New(ctx, io.Discard, frozen())
	started := make(chan struct{})
	build := Go(g, "build", 4, nil, func(ctx context.Context, _ io.Writer) (int, error) {
		close(started)
		<-ctx.Done()
		return 0, ctx.Err()
	})
	Go(g, "scan", 6, []Dep{build}, func(context.Context, io.Writer) (int, error) { return 0, nil })
	within(t, started, "build to start")
	cancel()
	rs, err := g.Wait()
	var f *Failure
	if err == nil || errors.As(err, &f) {
		t.Fatalf("err = %v, want an interruption", err)
	}
	if got := statuses(rs); got != "build=cancelled scan=cancelled" {
		t.Errorf("statuses = %s", got)
	}
}

// WithLogBlock writes each stage's log its way, the status line after it;
// a stage with no log gets no block.
func TestWithLogBlock(t *testing.T) {
	var out bytes.Buffer
	var blocks []string
	g := New(context.Background(), &out, frozen(), WithLogBlock(func(w io.Writer, stage string, log []byte) {
		blocks = append(blocks, stage)
		fmt.Fprintf(w, "[%s]\n%s[/%s]\n", stage, log, stage)
	}))
	Go(g, "test", 3, nil, func(ctx context.Context, log io.Writer) (int, error) {
		fmt.Fprintln(log, "ok pkg")
		return 0, nil
	})
	Go(g, "build", 4, nil, func(ctx context.Context, log io.Writer) (int, error) { return 0, nil })
	if _, err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if len(blocks) != 1 || blocks[0] != "test" {
		t.Errorf("blocks for %q, want only test's", blocks)
	}
	if !strings.Contains(out.String(), "[test]\nok pkg\n[/test]\ngantry: test     passed in") {
		t.Errorf("the block is not written before the status line:\n%s", out.String())
	}
}

// A running stage says so at each tick, and stops once it ends: no line
// after its status line.
func TestHeartbeat(t *testing.T) {
	var out bytes.Buffer
	ticks := make(chan time.Time)
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	stopped := make(chan struct{})
	g := New(context.Background(), &out, WithClock(clock), WithHeartbeat(func() (<-chan time.Time, func()) {
		return ticks, func() { close(stopped) }
	}))
	start := clock()
	Go(g, "test", 3, nil, func(ctx context.Context, log io.Writer) (int, error) {
		ticks <- start.Add(30 * time.Second) // a tick carries its time
		ticks <- start.Add(60 * time.Second)
		advance(60 * time.Second)
		return 0, nil
	})
	if _, err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stopped:
	default:
		t.Error("the ticker was not stopped")
	}
	want := "gantry: test     started\ngantry: test     running for 30s\ngantry: test     running for 1m0s\ngantry: test     passed in 1m0s\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}

// An observer hears each stage's statuses in order: waiting when declared
// (skipped, for a skipped one), running, then its result; a stage whose
// dependency failed goes from waiting to cancelled without running.
func TestObserver(t *testing.T) {
	var mu sync.Mutex
	heard := map[string][]string{}
	g := New(context.Background(), io.Discard, frozen(), WithObserver(func(stage, status string, _ time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		heard[stage] = append(heard[stage], status)
	}))
	a := Go(g, "a", 3, nil, func(context.Context, io.Writer) (none, error) { return none{}, errors.New("broken") })
	Go(g, "b", 4, []Dep{a}, func(context.Context, io.Writer) (none, error) { return none{}, nil })
	Skip[none](g, "c", "--dry-run")
	g.Wait()
	want := map[string][]string{
		"a": {Waiting, Running, Failed},
		"b": {Waiting, Cancelled},
		"c": {Skipped},
	}
	for stage, w := range want {
		if got := heard[stage]; strings.Join(got, " ") != strings.Join(w, " ") {
			t.Errorf("%s: heard %v, want %v", stage, got, w)
		}
	}
}

type none struct{}
