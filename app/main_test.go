package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/app/internal/pgtest"
)

// These tests run the real binary, built once with a stamped version, to
// check what only a process shows: exit codes, stderr, signals.

const (
	stampedVersion = "v9.9.9-test"
	stampedCommit  = "feedface"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gantry-app-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "app")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// binary builds the app once per test run, stamped as the Dockerfile
// stamps it. With the test run's own build settings, not the Dockerfile's
// (-trimpath, CGO_ENABLED=0), which change nothing the tests check: so it
// links packages the test run already compiled, where other settings
// compiled the standard library and every dependency again (85 s of a
// 3.5-minute test stage in the engine, 2026-12-04).
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		const pkg = "github.com/gantry-ci/gantry/app/internal/version"
		cmd := exec.Command("go", "build",
			"-ldflags", "-X "+pkg+".Version="+stampedVersion+" -X "+pkg+".Commit="+stampedCommit,
			"-o", binPath, ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building the app: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// command runs the binary with exactly env, not the test's environment, so
// a DATABASE_URL or PORT set around the test cannot leak in.
func command(t *testing.T, env map[string]string, args ...string) *exec.Cmd {
	cmd := exec.Command(binary(t), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("running the app: %v", err)
	}
	return exit.ExitCode()
}

func TestConfigErrorExitsTwoWithOneLine(t *testing.T) {
	const secret = "Sup3rS3cret"
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"missing DATABASE_URL", nil, nil, "DATABASE_URL is not set"},
		{"unparsable DATABASE_URL", map[string]string{"DATABASE_URL": "postgres://gantry:" + secret + "@db:port/gantry"}, nil, "DATABASE_URL cannot be parsed"},
		{"bad PORT", map[string]string{"DATABASE_URL": "postgres://db/gantry", "PORT": "eighty"}, nil, `PORT "eighty" is not a number`},
		{"bad LOG_LEVEL", map[string]string{"DATABASE_URL": "postgres://db/gantry", "LOG_LEVEL": "loud"}, nil, "LOG_LEVEL"},
		{"unknown argument", nil, []string{"serve"}, "unknown arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			cmd := command(t, tt.env, tt.args...)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if code := exitCode(t, cmd.Run()); code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			msg := stderr.String()
			if strings.Count(msg, "\n") != 1 || !strings.HasSuffix(msg, "\n") {
				t.Errorf("stderr is not exactly one line: %q", msg)
			}
			if !strings.Contains(msg, tt.want) {
				t.Errorf("stderr %q does not contain %q", msg, tt.want)
			}
			if strings.Contains(msg, secret) {
				t.Errorf("stderr shows the password: %q", msg)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout is not empty: %q", stdout.String())
			}
		})
	}
}

// patient is the HEALTH_TIMEOUT of a test that expects the database to
// answer, or to refuse at once: far above what any loaded machine needs.
const patient = "30s"

// running is a started app process.
type running struct {
	cmd    *exec.Cmd
	url    string
	port   string
	env    map[string]string
	stdout *syncBuffer
	exited chan error
}

func startApp(t *testing.T, env map[string]string) *running {
	t.Helper()
	port := freePort(t)
	env["PORT"] = port
	r := &running{url: "http://127.0.0.1:" + port, port: port, env: env, stdout: &syncBuffer{}, exited: make(chan error, 1)}
	r.cmd = command(t, env)
	r.cmd.Stdout, r.cmd.Stderr = r.stdout, r.stdout
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("starting the app: %v", err)
	}
	go func() { r.exited <- r.cmd.Wait() }()
	t.Cleanup(func() {
		_ = r.cmd.Process.Kill()
		<-r.exited
		if t.Failed() {
			t.Logf("app output:\n%s", r.stdout.String())
		}
	})
	// Started means answering /livez, which needs no database.
	r.eventually(t, "/livez", http.StatusOK)
	return r
}

// eventually polls path until it answers want. The deadline is only against
// an app that never does: on a loaded machine starting or connecting may
// take a while.
func (r *running) eventually(t *testing.T, path string, want int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		status, body := get(r.url + path)
		if status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %d %s after a minute, want %d:\n%s", path, status, body, want, r.stdout.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// healthcheck runs "app healthcheck" with only PORT and the app's
// HEALTH_TIMEOUT set, as the image's HEALTHCHECK does: it must not need
// DATABASE_URL.
func (r *running) healthcheck(t *testing.T) (int, string) {
	t.Helper()
	env := map[string]string{"PORT": r.port}
	if v, ok := r.env["HEALTH_TIMEOUT"]; ok {
		env["HEALTH_TIMEOUT"] = v
	}
	out, err := command(t, env, "healthcheck").CombinedOutput()
	return exitCode(t, err), string(out)
}

func TestAppStartsWithoutDatabase(t *testing.T) {
	r := startApp(t, map[string]string{
		"DATABASE_URL": "postgres://gantry:Sup3rS3cret@" + pgtest.ClosedAddr(t) + "/gantry?sslmode=disable",
		// The refusal is instant; a patient timeout keeps a loaded
		// machine from turning it into a timeout.
		"HEALTH_TIMEOUT": patient,
	})
	if status, body := get(r.url + "/health"); status != http.StatusServiceUnavailable {
		t.Errorf("/health: %d %s, want 503", status, body)
	}
	if code, out := r.healthcheck(t); code != 1 {
		t.Errorf("healthcheck exit code %d (%s), want 1 while the database is down", code, out)
	}
	if strings.Contains(r.stdout.String(), "Sup3rS3cret") {
		t.Errorf("logs show the password:\n%s", r.stdout.String())
	}
}

func TestAppServesAndStopsOnSIGTERM(t *testing.T) {
	dsn := pgtest.URL(t)
	r := startApp(t, map[string]string{"DATABASE_URL": dsn, "LOG_LEVEL": "debug", "APP_ENV": "test", "HEALTH_TIMEOUT": patient})

	status, body := get(r.url + "/health")
	if status != http.StatusOK {
		t.Fatalf("/health: %d %s", status, body)
	}
	var health struct{ Status, Version, Commit string }
	if err := json.Unmarshal(body, &health); err != nil {
		t.Fatal(err)
	}
	if health.Version != stampedVersion || health.Commit != stampedCommit {
		t.Errorf("/health reports %s/%s, want the stamped %s/%s", health.Version, health.Commit, stampedVersion, stampedCommit)
	}
	if _, body := get(r.url + "/version"); !bytes.Contains(body, []byte(stampedVersion)) {
		t.Errorf("/version %s lacks %s", body, stampedVersion)
	}
	if code, out := r.healthcheck(t); code != 0 {
		t.Errorf("healthcheck exit code %d (%s), want 0", code, out)
	}

	r.sigterm(t)
	if code, _ := r.healthcheck(t); code != 1 {
		t.Errorf("healthcheck exit code %d after the app stopped, want 1", code)
	}

	out := r.stdout.String()
	if password := pgtest.Secret(t, dsn); password != "" && strings.Contains(out, password) {
		t.Errorf("logs show the database password")
	}
	// The app logs requests and its shutdown.
	var sawRequest, sawStopped bool
	for _, line := range r.logs(t) {
		sawRequest = sawRequest || (line["msg"] == "request" && line["route"] == "/health" && line["env"] == "test")
		sawStopped = sawStopped || line["msg"] == "stopped"
	}
	if !sawRequest || !sawStopped {
		t.Errorf("logs lack a /health request line or the stopped line:\n%s", out)
	}
}

// TestAppStopsInTimeWhenDatabaseVanishes checks that the app honours its
// shutdown timeout when the database's host has vanished: pgx then waits up
// to 15 s to clean up a connection whose query timed out.
func TestAppStopsInTimeWhenDatabaseVanishes(t *testing.T) {
	dsn := pgtest.URL(t)
	p := pgtest.NewProxy(t, dsn)
	const shutdownTimeout = 3 * time.Second
	r := startApp(t, map[string]string{
		"DATABASE_URL": p.DSN(dsn),
		// Every check after the freeze reaches this timeout, so it is
		// kept short; the check before it is polled instead.
		"HEALTH_TIMEOUT":   "2s",
		"SHUTDOWN_TIMEOUT": shutdownTimeout.String(),
	})
	// A pooled connection, for the freeze to strand mid-query.
	r.eventually(t, "/health", http.StatusOK)
	p.Freeze()
	// The check times out and leaves a connection for pgx to clean up.
	if status, body := get(r.url + "/health"); status != http.StatusServiceUnavailable {
		t.Fatalf("/health: %d %s, want 503 once the database vanished", status, body)
	}
	timedOut := time.Now()

	exited := r.sigterm(t)
	// pgx's cleanup ends 15 s after the check timed out, and an app
	// waiting for it would exit then; the bound stays below that and
	// leaves about 10 s over the 2 s pool close timeout for a loaded
	// machine.
	if took, bound := exited.Sub(timedOut), 12*time.Second; took > bound {
		t.Errorf("the app exited %s after the check timed out, want at most %s", took, bound)
	}

	var sawWarning, sawStopped bool
	for _, line := range r.logs(t) {
		msg, _ := line["msg"].(string)
		sawWarning = sawWarning || (line["level"] == "WARN" && strings.Contains(msg, "pool"))
		sawStopped = sawStopped || msg == "stopped"
	}
	if !sawWarning || !sawStopped {
		t.Errorf("logs lack a warning about closing the pool or the stopped line:\n%s", r.stdout.String())
	}
}

// sigterm sends SIGTERM, fails the test unless the app exits with code 0,
// and returns when it exited. The minute is only against an app that never
// exits; tests that care how soon it does check that themselves.
func (r *running) sigterm(t *testing.T) time.Time {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	select {
	case err := <-r.exited:
		exited := time.Now()
		r.exited <- err // for the cleanup
		t.Logf("exited %s after SIGTERM", exited.Sub(start).Round(time.Millisecond))
		if code := exitCode(t, err); code != 0 {
			t.Errorf("exit code %d after SIGTERM, want 0", code)
		}
		return exited
	case <-time.After(time.Minute):
		t.Fatalf("the app did not exit within a minute of SIGTERM")
	}
	return time.Time{}
}

// logs decodes the app's output, which must be JSON lines.
func (r *running) logs(t *testing.T) []map[string]any {
	t.Helper()
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(r.stdout.String()))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		lines = append(lines, line)
	}
	return lines
}

func get(url string) (int, []byte) {
	// Only against a hang: every exchange in these tests ends well before.
	client := &http.Client{Timeout: 2 * time.Minute}
	resp, err := client.Get(url)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

func freePort(t *testing.T) string {
	t.Helper()
	_, port, err := net.SplitHostPort(pgtest.ClosedAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	return port
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
