// Package step runs the test bed's long operations as named steps: it prints
// what each step is doing with its elapsed time, a heartbeat while it runs,
// keeps every command's full output in a log file, and on failure reports the
// step, the command and the tail of its log.
package step

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Heartbeat is how often a running step reports that it is still running.
const Heartbeat = 20 * time.Second

// TailLines is how many log lines a failure report shows.
const TailLines = 30

// Runner prints progress to Out and keeps logs in LogDir.
type Runner struct {
	out    io.Writer
	logDir string
	// ticker starts one step's heartbeat: the channel that fires it and a
	// function that stops it.
	ticker func() (<-chan time.Time, func())
	mu     sync.Mutex // serialises lines written to out
}

// New returns a Runner printing to out and logging into logDir, with a
// heartbeat every Heartbeat.
func New(out io.Writer, logDir string) *Runner {
	return &Runner{out: out, logDir: logDir, ticker: func() (<-chan time.Time, func()) {
		t := time.NewTicker(Heartbeat)
		return t.C, t.Stop
	}}
}

// WithTicks returns r with every step's heartbeat fired by ticks instead
// of a clock (tests).
func (r *Runner) WithTicks(ticks <-chan time.Time) *Runner {
	r.ticker = func() (<-chan time.Time, func()) { return ticks, func() {} }
	return r
}

// Printf prints one progress line.
func (r *Runner) Printf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.out, format+"\n", args...)
}

// Skipped is returned by a step that found its work already done.
type Skipped struct{ Reason string }

func (s Skipped) Error() string { return "skipped: " + s.Reason }

// Skip returns a Skipped error with the given reason.
func Skip(format string, args ...any) error {
	return Skipped{Reason: fmt.Sprintf(format, args...)}
}

// Failure is the error of a failed step: which step, the last command it
// ran, and where its log is.
type Failure struct {
	Step    string
	Command string
	LogPath string
	Tail    []string
	Err     error
}

func (f *Failure) Error() string {
	return fmt.Sprintf("step %s: %v", f.Step, f.Err)
}

func (f *Failure) Unwrap() error { return f.Err }

// Report is the multi-line description printed for a failure.
func (f *Failure) Report() string {
	var b strings.Builder
	fmt.Fprintf(&b, "FAILED step %q: %v\n", f.Step, f.Err)
	if f.Command != "" {
		fmt.Fprintf(&b, "  command: %s\n", f.Command)
	}
	fmt.Fprintf(&b, "  full log: %s\n", f.LogPath)
	if len(f.Tail) > 0 {
		fmt.Fprintf(&b, "  last %d log lines:\n", len(f.Tail))
		for _, l := range f.Tail {
			fmt.Fprintf(&b, "  | %s\n", l)
		}
	}
	return b.String()
}

// Step is one running step. Its methods are safe for concurrent use.
type Step struct {
	name    string
	r       *Runner
	start   time.Time
	logPath string

	mu      sync.Mutex
	log     *os.File
	doing   string
	lastCmd string
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// LogPath is the log file of the step called name.
func (r *Runner) LogPath(name string) string {
	return filepath.Join(r.logDir, unsafeName.ReplaceAllString(name, "_")+".log")
}

// Run runs fn as the step called name. A Skipped error counts as success.
// Any other error comes back as a *Failure, already reported on out.
func (r *Runner) Run(ctx context.Context, name string, fn func(ctx context.Context, s *Step) error) error {
	if err := os.MkdirAll(r.logDir, 0o755); err != nil {
		return fmt.Errorf("creating log dir: %w", err)
	}
	s := &Step{name: name, r: r, start: time.Now(), logPath: r.LogPath(name)}
	f, err := os.Create(s.logPath)
	if err != nil {
		return fmt.Errorf("creating step log: %w", err)
	}
	s.log = f
	defer f.Close()
	fmt.Fprintf(f, "=== step %s started %s\n", name, s.start.Format(time.RFC3339))

	// The heartbeat ends before the step's last line, so no "still …"
	// line comes after "done".
	ticks, stop := r.ticker()
	done, beaten := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(beaten)
		s.heartbeat(ticks, done)
	}()
	err = fn(ctx, s)
	close(done)
	<-beaten
	stop()

	elapsed := s.Elapsed()
	var skipped Skipped
	switch {
	case err == nil:
		r.Printf("[%s] done (%s)", name, elapsed)
		return nil
	case errors.As(err, &skipped):
		r.Printf("[%s] up to date: %s (%s)", name, skipped.Reason, elapsed)
		return nil
	}
	fmt.Fprintf(f, "=== step %s failed after %s: %v\n", name, elapsed, err)
	var inner *Failure
	if errors.As(err, &inner) {
		return err // a nested step already reported
	}
	s.mu.Lock()
	fail := &Failure{Step: name, Command: s.lastCmd, LogPath: s.logPath, Err: err}
	s.mu.Unlock()
	f.Sync()
	fail.Tail = tail(s.logPath, TailLines)
	r.Printf("[%s] %s", name, strings.TrimRight(fail.Report(), "\n"))
	return fail
}

func (s *Step) heartbeat(ticks <-chan time.Time, done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		case <-ticks:
			s.mu.Lock()
			doing := s.doing
			s.mu.Unlock()
			s.r.Printf("[%s] still %s (%s)", s.name, doing, s.Elapsed())
		}
	}
}

// Name is the step's name.
func (s *Step) Name() string { return s.name }

// Elapsed is the time since the step started, rounded for display.
func (s *Step) Elapsed() time.Duration {
	return time.Since(s.start).Round(100 * time.Millisecond)
}

// Doing records and prints what the step is doing now.
func (s *Step) Doing(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.mu.Lock()
	s.doing = msg
	fmt.Fprintf(s.log, "--- %s\n", msg)
	s.mu.Unlock()
	s.r.Printf("[%s] %s (%s)", s.name, msg, s.Elapsed())
}

// Logf writes a line to the step's log only.
func (s *Step) Logf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.log, format+"\n", args...)
}

// Log is a writer into the step's log.
func (s *Step) Log() io.Writer { return lockedWriter{s} }

type lockedWriter struct{ s *Step }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return w.s.log.Write(p)
}

// Exec runs cmd with its output in the step's log (unless cmd already has
// Stdout or Stderr set) and remembers it as the step's last command.
func (s *Step) Exec(cmd *exec.Cmd) error {
	line := CommandLine(cmd)
	s.mu.Lock()
	s.lastCmd = line
	if s.doing == "" {
		s.doing = "running " + line
	}
	fmt.Fprintf(s.log, "$ %s\n", line)
	s.mu.Unlock()
	if cmd.Stdout == nil {
		cmd.Stdout = s.Log()
	}
	if cmd.Stderr == nil {
		cmd.Stderr = s.Log()
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("running %s: %w", filepath.Base(cmd.Path), err)
	}
	return nil
}

// Output runs cmd like Exec and returns its standard output, which is also
// copied to the log.
func (s *Step) Output(cmd *exec.Cmd) ([]byte, error) {
	var buf bytes.Buffer
	cmd.Stdout = io.MultiWriter(&buf, s.Log())
	err := s.Exec(cmd)
	return buf.Bytes(), err
}

// Command is exec.CommandContext with the step's log wired in by Exec.
func (s *Step) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, name, args...)
}

// Run runs a command by name and arguments (see Exec).
func (s *Step) Run(ctx context.Context, name string, args ...string) error {
	return s.Exec(exec.CommandContext(ctx, name, args...))
}

// CommandLine renders cmd for humans, with its extra environment and
// directory.
func CommandLine(cmd *exec.Cmd) string {
	var parts []string
	if cmd.Dir != "" {
		parts = append(parts, "(cd "+cmd.Dir+")")
	}
	for _, e := range extraEnv(cmd.Env) {
		parts = append(parts, quote(e))
	}
	for _, a := range cmd.Args {
		parts = append(parts, quote(a))
	}
	return strings.Join(parts, " ")
}

// extraEnv is the part of env that differs from this process's environment.
func extraEnv(env []string) []string {
	if env == nil {
		return nil
	}
	own := map[string]bool{}
	for _, e := range os.Environ() {
		own[e] = true
	}
	var out []string
	for _, e := range env {
		if !own[e] {
			out = append(out, e)
		}
	}
	return out
}

func quote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`*?[]{}()<>|&;#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return lines
}
