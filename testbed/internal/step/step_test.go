package step

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
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

func TestHeartbeat(t *testing.T) {
	var out syncBuffer
	r := New(&out, t.TempDir()).WithHeartbeat(20 * time.Millisecond)
	err := r.Run(context.Background(), "slow", func(ctx context.Context, s *Step) error {
		s.Doing("compiling")
		time.Sleep(90 * time.Millisecond)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "[slow] still compiling"); n < 2 {
		t.Errorf("got %d heartbeat lines, want at least 2:\n%s", n, out.String())
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
