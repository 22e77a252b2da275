package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder counts writes, to tell batched output from line-by-line output.
type recorder struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes++
	return r.buf.Write(p)
}

func (r *recorder) state() (string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.String(), r.writes
}

func TestLogger(t *testing.T) {
	tests := []struct {
		name string
		log  func(l *Logger)
		// wantBeforeClose is what must be written before Close, without
		// waiting for the flush interval.
		wantBeforeClose int
		wantLines       int
	}{
		{"info lines wait for the batch", func(l *Logger) {
			for range 100 {
				l.Info("request", slog.Int("status", 200))
			}
		}, 0, 100},
		{"a warning writes the batch at once", func(l *Logger) {
			l.Info("request")
			l.Warn("database check failed")
		}, 2, 2},
		{"errors from derived loggers write at once", func(l *Logger) {
			l.With(slog.String("env", "test")).Error("stopped")
		}, 1, 1},
		{"below the level nothing is written", func(l *Logger) {
			l.Debug("noise")
		}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			// No tick ever comes: what is written before Close was
			// written by the logger itself, not by the interval.
			l := newLogger(rec, slog.LevelInfo, nil, nil)
			tt.log(l)
			out, _ := rec.state()
			if got := strings.Count(out, "\n"); got != tt.wantBeforeClose {
				t.Errorf("%d lines written before Close, want %d", got, tt.wantBeforeClose)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			out, writes := rec.state()
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if out == "" {
				lines = nil
			}
			if len(lines) != tt.wantLines {
				t.Fatalf("%d lines after Close, want %d:\n%s", len(lines), tt.wantLines, out)
			}
			for _, line := range lines {
				if !json.Valid([]byte(line)) {
					t.Errorf("not a JSON line: %q", line)
				}
			}
			if tt.wantLines > 2 && writes >= tt.wantLines {
				t.Errorf("%d lines took %d writes, want them batched", tt.wantLines, writes)
			}
		})
	}
}

// A tick writes out what is buffered.
func TestLoggerFlushesOnTick(t *testing.T) {
	rec := &recorder{}
	tick := make(chan time.Time)
	flushed := make(chan struct{})
	l := newLogger(rec, slog.LevelInfo, tick, func() { flushed <- struct{}{} })
	defer l.Close()
	l.Info("request")
	if out, _ := rec.state(); out != "" {
		t.Fatalf("written before the tick: %q", out)
	}
	tick <- time.Time{}
	<-flushed
	if out, _ := rec.state(); !strings.Contains(out, `"msg":"request"`) {
		t.Errorf("after the tick: %q, want the request line", out)
	}
}

// New flushes on FlushInterval's ticker and stops it on Close.
func TestNewCloses(t *testing.T) {
	rec := &recorder{}
	l := New(rec, slog.LevelInfo)
	l.Info("request")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if out, _ := rec.state(); !strings.Contains(out, `"msg":"request"`) {
		t.Errorf("after Close: %q", out)
	}
}
