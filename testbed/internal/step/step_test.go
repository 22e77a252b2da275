package step

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the heartbeat goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRun(t *testing.T) {
	tests := []struct {
		name     string
		fn       func(ctx context.Context, s *Step) error
		wantErr  bool
		wantOut  []string
		wantTail string
	}{
		{
			name:    "success",
			fn:      func(ctx context.Context, s *Step) error { s.Doing("working"); return nil },
			wantOut: []string{"[success] working", "[success] done"},
		},
		{
			name:    "skip is success",
			fn:      func(ctx context.Context, s *Step) error { return Skip("cached %s", "x") },
			wantOut: []string{"[skip is success] up to date: cached x"},
		},
		{
			name: "failure shows command and log tail",
			fn: func(ctx context.Context, s *Step) error {
				return s.Run(ctx, "sh", "-c", "for i in $(seq 1 40); do echo line $i; done; exit 3")
			},
			wantErr:  true,
			wantOut:  []string{"FAILED step", "command: sh -c", "line 40", "full log:"},
			wantTail: "line 40",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out syncBuffer
			r := New(&out, t.TempDir())
			err := r.Run(context.Background(), tt.name, tt.fn)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			if tt.wantErr {
				var f *Failure
				if !errors.As(err, &f) {
					t.Fatalf("error %T is not a *Failure", err)
				}
				if len(f.Tail) != TailLines {
					t.Errorf("tail has %d lines, want %d", len(f.Tail), TailLines)
				}
				if last := f.Tail[len(f.Tail)-1]; !strings.Contains(strings.Join(f.Tail, "\n"), tt.wantTail) {
					t.Errorf("tail ends with %q, want it to contain %q", last, tt.wantTail)
				}
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != 3 {
					t.Errorf("error does not wrap the exit status 3: %v", err)
				}
			}
		})
	}
}

// beatWriter also hands each heartbeat line to the test as it is written.
type beatWriter struct {
	syncBuffer
	beats chan string
}

func (w *beatWriter) Write(p []byte) (int, error) {
	n, err := w.syncBuffer.Write(p)
	if strings.Contains(string(p), "] still ") {
		w.beats <- string(p)
	}
	return n, err
}

// Each tick prints one heartbeat with what the step is doing at that
// moment, and none comes after the step's last line. The test drives the
// heartbeat with its own ticks and waits for each line on a channel: no
// sleeps, no wall clock.
func TestHeartbeat(t *testing.T) {
	out := &beatWriter{beats: make(chan string, 10)}
	ticks := make(chan time.Time)
	// The time.After cases only bound a broken heartbeat that never
	// answers; the passing path never waits on them.
	tick := func() {
		select {
		case ticks <- time.Time{}:
		case <-time.After(10 * time.Second):
			t.Fatal("no heartbeat took the tick")
		}
	}
	await := func() {
		select {
		case <-out.beats:
		case <-time.After(10 * time.Second):
			t.Fatal("no heartbeat line after a tick")
		}
	}
	r := New(out, t.TempDir()).WithTicks(ticks)
	err := r.Run(context.Background(), "slow", func(ctx context.Context, s *Step) error {
		s.Doing("downloading")
		tick()
		await()
		s.Doing("compiling")
		tick()
		await()
		tick() // not awaited: Run must not return before its line
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var beats []string
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	for _, l := range lines {
		if strings.HasPrefix(l, "[slow] still ") {
			beats = append(beats, strings.TrimPrefix(l[:strings.LastIndex(l, " (")], "[slow] "))
		}
	}
	want := []string{"still downloading", "still compiling", "still compiling"}
	if !slices.Equal(beats, want) {
		t.Errorf("heartbeats %q, want %q:\n%s", beats, want, out.String())
	}
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "[slow] done") {
		t.Errorf("last line %q, want the step's done line:\n%s", last, out.String())
	}
	select {
	case ticks <- time.Time{}:
		t.Error("the heartbeat still runs after Run returned")
	default:
	}
}

func TestCommandLine(t *testing.T) {
	cmd := exec.Command("go", "build", "-ldflags", "-X a=b c", "./cmd/x")
	cmd.Dir = "/src"
	got := CommandLine(cmd)
	want := fmt.Sprintf("(cd /src) go build -ldflags %s ./cmd/x", "'-X a=b c'")
	if got != want {
		t.Errorf("CommandLine = %q, want %q", got, want)
	}
}
