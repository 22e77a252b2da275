package progress

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/ci/internal/graph"
)

// screen is what a terminal shows after the bytes written to it: it
// understands what Terminal writes (text, \n, \r, cursor up, erase to the
// end of the screen) and fails on any other escape.
type screen struct {
	t         *testing.T
	lines     []string
	row, col  int
	escapeSeq *regexp.Regexp
}

func newScreen(t *testing.T) *screen {
	return &screen{t: t, lines: []string{""}, escapeSeq: regexp.MustCompile(`^\x1b\[(\d*)([AJ])`)}
}

func (s *screen) Write(p []byte) (int, error) {
	for in := string(p); in != ""; {
		switch {
		case in[0] == '\n':
			s.row, s.col = s.row+1, 0
			if s.row == len(s.lines) {
				s.lines = append(s.lines, "")
			}
			in = in[1:]
		case in[0] == '\r':
			s.col, in = 0, in[1:]
		case in[0] == '\x1b':
			m := s.escapeSeq.FindStringSubmatch(in)
			if m == nil {
				s.t.Fatalf("an escape the screen does not know: %q", in)
			}
			if m[2] == "A" {
				n, _ := strconv.Atoi(m[1])
				s.row = max(0, s.row-n)
			} else { // erase from the cursor to the end of the screen
				s.lines = append(s.lines[:s.row], s.lines[s.row][:s.col])
			}
			in = in[len(m[0]):]
		default:
			line := s.lines[s.row]
			s.lines[s.row] = line[:s.col] + in[:1] + line[min(len(line), s.col+1):]
			s.col, in = s.col+1, in[1:]
		}
	}
	return len(p), nil
}

// shown is the screen's text, without the empty line the cursor sits on.
func (s *screen) shown() []string {
	return slices.DeleteFunc(slices.Clone(s.lines), func(l string) bool { return l == "" })
}

// The block of stages stays under what the run prints, redrawn in place:
// a running stage's time moves on, an ended one says how it ended, and a
// line written in two pieces comes out whole.
func TestTerminal(t *testing.T) {
	scr := newScreen(t)
	now := time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC)
	term := New(scr, func() time.Time { return now })
	term.Stage("test", graph.Waiting, 0)
	term.Stage("build", graph.Waiting, 0)
	term.Stage("scan", graph.Skipped, 0)
	term.Stage("test", graph.Running, 0)
	term.Write([]byte("gantry: test     started\n"))
	now = now.Add(5 * time.Second)
	term.Redraw()
	want := []string{"gantry: test     started", "  test     running 5s", "  build    waiting", "  scan     skipped"}
	if got := scr.shown(); !slices.Equal(got, want) {
		t.Errorf("screen:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	term.Stage("build", graph.Running, 0)
	term.Write([]byte("=== RUN   TestHealth\n--- PASS: Test"))
	term.Write([]byte("Health (0.01s)\n"))
	term.Stage("test", graph.Passed, 7*time.Second)
	now = now.Add(2 * time.Second)
	term.Redraw()
	want = []string{"gantry: test     started", "=== RUN   TestHealth", "--- PASS: TestHealth (0.01s)",
		"  test     passed in 7s", "  build    running 2s", "  scan     skipped"}
	if got := scr.shown(); !slices.Equal(got, want) {
		t.Errorf("screen:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Stopped, the block is gone: the screen keeps what the run printed.
func TestAnimateStops(t *testing.T) {
	scr := newScreen(t)
	now := time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC)
	term := New(scr, func() time.Time { return now })
	ticks := make(chan time.Time)
	stop := term.Animate(ticks)
	term.Stage("test", graph.Running, 0)
	now = now.Add(3 * time.Second)
	ticks <- now // redrawn, and the next send waits until that is done
	ticks <- now
	if got := scr.shown(); !slices.Equal(got, []string{"  test     running 3s"}) {
		t.Errorf("screen while running: %q", got)
	}
	term.Write([]byte("gantry: test     passed in 3s\n"))
	stop()
	term.Write([]byte("gantry: done in 4s\n"))
	if got, want := scr.shown(), []string{"gantry: test     passed in 3s", "gantry: done in 4s"}; !slices.Equal(got, want) {
		t.Errorf("screen after stop: %q, want %q", got, want)
	}
}
