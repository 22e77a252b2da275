// Package progress shows a run's stages live on a terminal: what the run
// prints scrolls above a block of one line per stage, which is redrawn in
// place as stages wait, run and end, with the running ones' time ticking.
// Where the output is not a terminal (a CI log, a pipe), none of this is
// used: the run prints plain lines.
package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/gantry-ci/gantry/ci/internal/graph"
)

// Terminal draws on w, a terminal that understands ANSI cursor movement.
type Terminal struct {
	mu      sync.Mutex
	w       io.Writer
	now     func() time.Time
	order   []string
	stages  map[string]*stage
	drawn   int    // lines the block takes on the screen now
	partial []byte // the start of a line written without its end
}

type stage struct {
	status string
	since  time.Time     // when it started running
	took   time.Duration // once it ended
}

// New draws on w with clock now.
func New(w io.Writer, now func() time.Time) *Terminal {
	return &Terminal{w: w, now: now, stages: map[string]*stage{}}
}

// Write prints p above the block: whole lines go out at once, a line's
// start waits for its end.
func (t *Terminal) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.partial = append(t.partial, p...)
	i := strings.LastIndexByte(string(t.partial), '\n')
	if i < 0 {
		return len(p), nil
	}
	lines := t.partial[:i+1]
	t.erase()
	_, err := t.w.Write(lines)
	t.partial = append([]byte(nil), t.partial[i+1:]...)
	t.draw()
	return len(p), err
}

// Stage records that stage is now in status (a graph's: waiting, running,
// or its result), after took when it ended, and redraws; a graph's
// observer (graph.WithObserver).
func (t *Terminal) Stage(name, status string, took time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.stages[name]
	if !ok {
		s = &stage{}
		t.stages[name] = s
		t.order = append(t.order, name)
	}
	s.status, s.took = status, took
	if status == graph.Running {
		s.since = t.now()
	}
	t.erase()
	t.draw()
}

// Redraw redraws the block: the running stages' time moves on.
func (t *Terminal) Redraw() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.erase()
	t.draw()
}

// erase moves the cursor to the block's first line and clears from there
// to the end of the screen.
func (t *Terminal) erase() {
	if t.drawn > 0 {
		fmt.Fprintf(t.w, "\x1b[%dA\r\x1b[J", t.drawn)
	}
	t.drawn = 0
}

func (t *Terminal) draw() {
	var b strings.Builder
	for _, name := range t.order {
		s := t.stages[name]
		fmt.Fprintf(&b, "  %-8s %s\n", name, describe(s, t.now()))
	}
	io.WriteString(t.w, b.String())
	t.drawn = len(t.order)
}

func describe(s *stage, now time.Time) string {
	switch s.status {
	case graph.Waiting, graph.Skipped:
		return s.status
	case graph.Running:
		return "running " + now.Sub(s.since).Round(time.Second).String()
	}
	if s.took > 0 {
		return s.status + " in " + s.took.String()
	}
	return s.status
}

// Animate redraws the block at each tick until stop is called, which
// erases the block: what stays on the screen is what the run printed,
// with each stage's end among it. Writes after stop pass straight through.
func (t *Terminal) Animate(ticks <-chan time.Time) (stop func()) {
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			case <-ticks:
				t.Redraw()
			}
		}
	}()
	return func() {
		close(done)
		<-finished
		t.mu.Lock()
		defer t.mu.Unlock()
		t.erase()
		t.order = nil
		if len(t.partial) > 0 {
			t.w.Write(t.partial)
			t.partial = nil
		}
	}
}
