package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/app/internal/config"
	"github.com/gantry-ci/gantry/app/internal/database"
	"github.com/gantry-ci/gantry/app/internal/metrics"
	"github.com/gantry-ci/gantry/app/internal/server"
	"github.com/gantry-ci/gantry/app/internal/version"
)

var testVersion = version.Info{Version: "v0.0.0-test", Commit: "c0ffee", GoVersion: "go-test"}

// service is the app wired as main wires it, serving on a real loopback
// listener.
type service struct {
	URL    string
	DB     *database.DB
	Server *server.Server
	Logs   *logBuffer

	stop    context.CancelFunc
	stopped chan error
	once    sync.Once
	runErr  error
}

// shutdown cancels the service's context, as SIGTERM does in main, and
// returns what Run returned.
func (s *service) shutdown() error {
	s.stop()
	s.once.Do(func() { s.runErr = <-s.stopped })
	return s.runErr
}

// patient is the health and shutdown timeout of a test that expects the
// database to answer or a request to finish: far above what any loaded
// machine needs, so only a real fault reaches it.
const patient = 30 * time.Second

type options struct {
	healthTimeout   time.Duration
	shutdownTimeout time.Duration
	// routes adds test-only routes before the server starts.
	routes func(s *server.Server, db *database.DB)
	// listenerClosed, when set, is closed once the server closes its
	// listener.
	listenerClosed chan struct{}
}

// start runs the service against dsn; it is stopped when the test ends.
func start(t *testing.T, dsn string, opts options) *service {
	t.Helper()
	if opts.healthTimeout == 0 {
		opts.healthTimeout = patient
	}
	if opts.shutdownTimeout == 0 {
		opts.shutdownTimeout = patient
	}
	env := map[string]string{
		"DATABASE_URL":     dsn,
		"HEALTH_TIMEOUT":   opts.healthTimeout.String(),
		"SHUTDOWN_TIMEOUT": opts.shutdownTimeout.String(),
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("loading config: %v", err)
	}
	logs := &logBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	db, err := database.Open(context.Background(), cfg.Database)
	if err != nil {
		t.Fatalf("opening database: %v", err)
	}
	m := metrics.New()
	if err := m.Register(metrics.NewPoolCollector(db)); err != nil {
		t.Fatalf("registering pool metrics: %v", err)
	}
	srv := server.New(server.Config{
		HealthTimeout:   cfg.HealthTimeout,
		ShutdownTimeout: cfg.ShutdownTimeout,
		Version:         testVersion,
	}, db, m, log)
	if opts.routes != nil {
		opts.routes(srv, db)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listening: %v", err)
	}
	if opts.listenerClosed != nil {
		ln = &notifyingListener{Listener: ln, closed: opts.listenerClosed}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &service{URL: "http://" + ln.Addr().String(), DB: db, Server: srv, Logs: logs, stop: cancel, stopped: make(chan error, 1)}
	go func() {
		s.stopped <- srv.Run(ctx, ln)
		_ = db.Close(context.Background())
	}()
	t.Cleanup(func() {
		_ = s.shutdown()
		if t.Failed() {
			t.Logf("service logs:\n%s", logs.String())
		}
	})
	return s
}

// notifyingListener closes closed when the listener is closed.
type notifyingListener struct {
	net.Listener
	closed chan struct{}
	once   sync.Once
}

func (l *notifyingListener) Close() error {
	err := l.Listener.Close()
	l.once.Do(func() { close(l.closed) })
	return err
}

// response is one HTTP exchange, read whole.
type response struct {
	Status  int
	Header  http.Header
	Body    []byte
	Elapsed time.Duration
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("decoding %q: %v", r.Body, err)
	}
	return v
}

// get requests path; header is optional name, value pairs.
func (s *service) get(t *testing.T, path string, header ...string) response {
	t.Helper()
	r, err := s.fetch(path, header...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// fetch is get for goroutines other than the test's, which must not call
// t.Fatal.
func (s *service) fetch(path string, header ...string) (response, error) {
	req, err := http.NewRequest(http.MethodGet, s.URL+path, nil)
	if err != nil {
		return response{}, err
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	// Only against a hang: every exchange in these tests ends well before.
	client := &http.Client{Timeout: 2 * time.Minute}
	begin := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return response{}, fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, fmt.Errorf("reading GET %s: %w", path, err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: body, Elapsed: time.Since(begin)}, nil
}

// eventually polls path until it answers want, failing after limit.
func (s *service) eventually(t *testing.T, path string, want int, limit time.Duration) response {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		r := s.get(t, path)
		if r.Status == want {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: still %d %s after %s, want %d", path, r.Status, r.Body, limit, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// logBuffer collects JSON log lines from concurrent writers.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the decoded log lines whose msg is msg.
func (b *logBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if line == "" {
			continue
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", line, err)
		}
		if v["msg"] == msg {
			out = append(out, v)
		}
	}
	return out
}
