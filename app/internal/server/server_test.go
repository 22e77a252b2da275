package server_test

import (
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/gantry-ci/gantry/app/internal/config"
	"github.com/gantry-ci/gantry/app/internal/database"
	"github.com/gantry-ci/gantry/app/internal/pgtest"
	"github.com/gantry-ci/gantry/app/internal/server"
)

// margin is how much later than the health timeout a 503 may arrive: the
// handler's own work plus scheduling on a machine loaded many times over.
// It only catches a check the timeout does not bound.
const margin = 20 * time.Second

// hang is the health timeout of a check the test makes hang (a black-holed
// or frozen database): the test controls the delay, so it can be short.
const hang = 500 * time.Millisecond

func TestHealthWithDatabase(t *testing.T) {
	s := start(t, pgtest.URL(t), options{})

	r := s.get(t, "/health", echo.HeaderXRequestID, "req-health-1")
	if r.Status != http.StatusOK {
		t.Fatalf("status %d, body %s", r.Status, r.Body)
	}
	v := r.json(t)
	if v["status"] != "ok" || v["version"] != testVersion.Version || v["commit"] != testVersion.Commit {
		t.Errorf("body %s: want status ok, version %s, commit %s", r.Body, testVersion.Version, testVersion.Commit)
	}
	if _, ok := v["reason"]; ok {
		t.Errorf("healthy body has a reason: %s", r.Body)
	}
	db, _ := v["database"].(map[string]any)
	if db["status"] != "ok" {
		t.Errorf("database status %v, want ok", db["status"])
	}
	// Bounded by the client's own round trip rather than by a fixed
	// number: that still catches a latency in the wrong unit, on any
	// machine.
	if ms, _ := db["latency_ms"].(float64); ms <= 0 || ms > float64(r.Elapsed)/float64(time.Millisecond) {
		t.Errorf("latency_ms %v, want a positive number of milliseconds, at most the %s round trip", db["latency_ms"], r.Elapsed)
	}
	for name, want := range map[string]string{
		echo.HeaderContentType:  echo.MIMEApplicationJSON,
		echo.HeaderXRequestID:   "req-health-1",
		echo.HeaderCacheControl: "no-store",
	} {
		if got := r.Header.Get(name); !strings.HasPrefix(got, want) {
			t.Errorf("header %s = %q, want %q", name, got, want)
		}
	}
	line := requestLine(t, s, "req-health-1")
	if line["method"] != "GET" || line["route"] != "/health" || line["status"] != float64(200) {
		t.Errorf("request log line %v: want GET /health 200", line)
	}
	if d, _ := line["duration_us"].(float64); d <= 0 {
		t.Errorf("request log line %v: want a positive duration_us", line)
	}
}

func TestRequestIDIsGenerated(t *testing.T) {
	s := start(t, pgtest.URL(t), options{})
	tests := []struct {
		name     string
		incoming []string
	}{
		{"none sent", nil},
		{"too long", []string{echo.HeaderXRequestID, strings.Repeat("x", 129)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.get(t, "/livez", tt.incoming...)
			id := r.Header.Get(echo.HeaderXRequestID)
			if len(id) < 16 || len(id) > 128 {
				t.Fatalf("X-Request-ID %q, want a generated ID", id)
			}
			if line := requestLine(t, s, id); line["route"] != "/livez" {
				t.Errorf("request log line %v: want route /livez", line)
			}
		})
	}
}

func TestProbesWithDatabase(t *testing.T) {
	s := start(t, pgtest.URL(t), options{})
	tests := []struct {
		path string
		want map[string]string
	}{
		{"/livez", map[string]string{"status": "ok"}},
		{"/readyz", map[string]string{"status": "ok"}},
		{"/version", map[string]string{"version": testVersion.Version, "commit": testVersion.Commit, "go": testVersion.GoVersion}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r := s.get(t, tt.path)
			if r.Status != http.StatusOK {
				t.Fatalf("status %d, body %s", r.Status, r.Body)
			}
			v := r.json(t)
			for k, want := range tt.want {
				if v[k] != want {
					t.Errorf("%s = %v, want %q (body %s)", k, v[k], want, r.Body)
				}
			}
		})
	}
}

func TestUnavailableDatabase(t *testing.T) {
	dsn := pgtest.URL(t)
	password := pgtest.Secret(t, dsn)
	tests := []struct {
		name string
		dsn  func(t *testing.T) string
		// timeout is patient where the refusal must come first, short
		// where the test makes the database hang.
		timeout time.Duration
		reason  string
	}{
		{"closed port", func(t *testing.T) string {
			return pgtest.WithAddr(t, dsn, pgtest.ClosedAddr(t))
		}, patient, "refused"},
		{"black hole", func(t *testing.T) string {
			p := pgtest.NewProxy(t, dsn)
			p.BlackHole()
			return p.DSN(dsn)
		}, hang, "did not answer in time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, tt.dsn(t), options{healthTimeout: tt.timeout})
			// Twice, so the second check meets the pool's leftovers from
			// the first.
			for _, path := range []string{"/health", "/readyz", "/health", "/readyz"} {
				r := s.get(t, path)
				assertUnavailable(t, r, tt.timeout, tt.reason, password)
			}
			if r := s.get(t, "/livez"); r.Status != http.StatusOK {
				t.Errorf("/livez: status %d without a database, want 200", r.Status)
			}
			if password != "" && strings.Contains(s.Logs.String(), password) {
				t.Errorf("logs show the database password")
			}
			if len(s.Logs.lines(t, "database check failed")) == 0 {
				t.Errorf("no log line explains the failed check")
			}
			body := string(s.get(t, "/metrics").Body)
			if !strings.Contains(body, `http_requests_total{method="GET",route="/health",status="503"} 2`) {
				t.Errorf("metrics do not count the 503s:\n%s", grep(body, "http_requests_total"))
			}
		})
	}
}

func TestWrongPassword(t *testing.T) {
	dsn := pgtest.URL(t)
	const wrong = "wrong-Pa55w0rd"
	// The refusal comes back as soon as authentication fails; the patient
	// deadline keeps a loaded machine (SCRAM is deliberately slow) from
	// turning it into a timeout.
	const timeout = patient
	s := start(t, pgtest.WithPassword(t, dsn, wrong), options{healthTimeout: timeout})
	r := s.get(t, "/health")
	if r.Status == http.StatusOK {
		t.Skip("the test server does not check passwords")
	}
	assertUnavailable(t, r, timeout, "credentials", wrong)
	if strings.Contains(s.Logs.String(), wrong) {
		t.Errorf("logs show the database password:\n%s", s.Logs.String())
	}
}

// TestOutageAndRecovery runs one service through the database going away and
// coming back, by refusing, by hanging and by vanishing, without restarting
// it.
func TestOutageAndRecovery(t *testing.T) {
	dsn := pgtest.URL(t)
	// One timeout serves both kinds of step: long enough that a refusal
	// (local, instant) always beats it, short enough that the hanging
	// steps, which always reach it, stay cheap. Recovery is polled, so a
	// loaded machine's slow check is only retried.
	const timeout = 2 * time.Second
	p := pgtest.NewProxy(t, dsn)
	// Down before the service starts: it must start anyway.
	p.Cut()
	s := start(t, p.DSN(dsn), options{healthTimeout: timeout})
	assertUnavailable(t, s.get(t, "/health"), timeout, "refused", "")
	assertUnavailable(t, s.get(t, "/readyz"), timeout, "refused", "")

	steps := []struct {
		name   string
		do     func()
		status int
		reason string
	}{
		{"database comes up", p.Restore, http.StatusOK, ""},
		{"database goes down", p.Cut, http.StatusServiceUnavailable, "refused"},
		{"database comes back", p.Restore, http.StatusOK, ""},
		{"database hangs", p.BlackHole, http.StatusServiceUnavailable, "did not answer in time"},
		{"database answers again", p.Restore, http.StatusOK, ""},
		{"database host vanishes", p.Freeze, http.StatusServiceUnavailable, "did not answer in time"},
		{"database host is back", p.Restore, http.StatusOK, ""},
	}
	for _, step := range steps {
		step.do()
		for _, path := range []string{"/health", "/readyz"} {
			if step.status == http.StatusOK {
				// Recovery may take a few checks while broken
				// connections are weeded out; no restart is needed.
				s.eventually(t, path, http.StatusOK, time.Minute)
				continue
			}
			// Connections pooled before the outage are dead now; the
			// very first check must already report it, within time.
			assertUnavailable(t, s.get(t, path), timeout, step.reason, "")
		}
	}
}

func TestGracefulShutdownFinishesInFlightRequests(t *testing.T) {
	// The request holds a database connection until the test releases it,
	// so it is in flight for as long as the test needs, on any machine.
	inFlight, release := make(chan struct{}), make(chan struct{})
	var released sync.Once
	releaseRequest := func() { released.Do(func() { close(release) }) }
	defer releaseRequest()
	listenerClosed := make(chan struct{})
	s := start(t, pgtest.URL(t), options{
		listenerClosed: listenerClosed,
		routes: func(srv *server.Server, db *database.DB) {
			// Test-only: a request that holds a database connection.
			srv.Router().GET("/test/slow", func(c echo.Context) error {
				ctx := c.Request().Context()
				conn, err := db.Pool().Acquire(ctx)
				if err != nil {
					return err
				}
				defer conn.Release()
				close(inFlight)
				select {
				case <-release:
				case <-ctx.Done():
					return ctx.Err()
				}
				// The database still serves it after shutdown began.
				if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
					return err
				}
				return c.String(http.StatusOK, "done")
			})
		},
	})
	host := strings.TrimPrefix(s.URL, "http://")

	type result struct {
		r   response
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := s.fetch("/test/slow")
		done <- result{r, err}
	}()
	select {
	case <-inFlight:
	case res := <-done:
		t.Fatalf("the request ended before it held a connection: %v, status %d, body %s", res.err, res.r.Status, res.r.Body)
	}

	stopped := make(chan error, 1)
	go func() { stopped <- s.shutdown() }()

	// Shutdown stops accepting while the request is still in flight.
	select {
	case <-listenerClosed:
	case <-time.After(time.Minute): // only against a hang
		t.Fatal("shutdown did not close the listener")
	}
	if conn, err := net.Dial("tcp", host); err == nil {
		conn.Close()
		t.Fatal("server still accepts connections after shutdown began")
	}
	select {
	case res := <-done:
		t.Fatalf("the request ended before it was released: %v, status %d", res.err, res.r.Status)
	case err := <-stopped:
		t.Fatalf("Run returned %v with a request in flight", err)
	default:
	}

	releaseRequest()
	res := <-done
	if res.err != nil {
		t.Fatalf("in-flight request failed: %v", res.err)
	}
	if res.r.Status != http.StatusOK || string(res.r.Body) != "done" {
		t.Fatalf("in-flight request: status %d, body %q", res.r.Status, res.r.Body)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Run returned %v after a clean shutdown", err)
	}
	if line := s.Logs.lines(t, "shutting down"); len(line) != 1 {
		t.Errorf("want one shutting down log line, got %d", len(line))
	}
}

func TestShutdownTimeoutCutsOffRequests(t *testing.T) {
	inFlight := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	// The request is stuck until the test ends, so the timeout is sure to
	// be reached however fast the machine is.
	const timeout = 200 * time.Millisecond
	s := start(t, pgtest.URL(t), options{
		shutdownTimeout: timeout,
		routes: func(srv *server.Server, _ *database.DB) {
			srv.Router().GET("/test/stuck", func(c echo.Context) error {
				close(inFlight)
				<-release
				return c.NoContent(http.StatusOK)
			})
		},
	})
	go func() { _, _ = s.fetch("/test/stuck") }()
	<-inFlight
	begin := time.Now()
	stopped := make(chan error, 1)
	go func() { stopped <- s.shutdown() }()
	var err error
	select {
	case err = <-stopped:
	case <-time.After(timeout + margin):
		// Waiting for the stuck request would never end.
		t.Fatalf("shutdown did not return within %s of its %s timeout", margin, timeout)
	}
	if err == nil {
		t.Fatal("Run returned nil although a request outlived the shutdown timeout")
	}
	// Not before the timeout: the request was given its time.
	if elapsed := time.Since(begin); elapsed < timeout {
		t.Errorf("shutdown gave up after %s, before the %s timeout", elapsed, timeout)
	}
}

func TestMetrics(t *testing.T) {
	s := start(t, pgtest.URL(t), options{})
	for _, path := range []string{"/health", "/health", "/livez", "/no-such-route"} {
		s.get(t, path)
	}
	r := s.get(t, "/metrics")
	if r.Status != http.StatusOK {
		t.Fatalf("status %d", r.Status)
	}
	if ct := r.Header.Get(echo.HeaderContentType); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q, want the Prometheus text format", ct)
	}
	body := string(r.Body)
	for _, want := range []string{
		`http_requests_total{method="GET",route="/health",status="200"} 2`,
		`http_requests_total{method="GET",route="/livez",status="200"} 1`,
		`http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`http_request_duration_seconds_count{method="GET",route="/health",status="200"} 2`,
		"pgxpool_max_connections " + strconv.Itoa(config.DefaultMaxConns),
		`go_goroutines `,
	} {
		if !strings.Contains(body, want+"\n") && !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	for name, atLeast := range map[string]float64{
		"pgxpool_total_connections":     1,
		"pgxpool_idle_connections":      1,
		"pgxpool_acquired_connections":  0,
		"pgxpool_acquires_total":        2,
		"pgxpool_new_connections_total": 1,
	} {
		if v := metricValue(t, body, name); v < atLeast {
			t.Errorf("%s = %v, want at least %v", name, v, atLeast)
		}
	}
	if strings.Contains(body, "no-such-route") {
		t.Error("an unmatched path became a label value")
	}
}

func assertUnavailable(t *testing.T, r response, timeout time.Duration, reason, secret string) {
	t.Helper()
	if r.Status != http.StatusServiceUnavailable {
		t.Errorf("status %d, body %s; want 503", r.Status, r.Body)
		return
	}
	if r.Elapsed > timeout+margin {
		t.Errorf("503 took %s, want at most the %s timeout + %s", r.Elapsed, timeout, margin)
	}
	// A timeout the test caused must have been the health timeout, not an
	// earlier one.
	if strings.Contains(reason, "in time") && r.Elapsed < timeout {
		t.Errorf("503 for a timeout after %s, before the %s health timeout", r.Elapsed, timeout)
	}
	v := r.json(t)
	if v["status"] != "unavailable" {
		t.Errorf("status %v, want unavailable", v["status"])
	}
	got, _ := v["reason"].(string)
	if !strings.Contains(got, reason) {
		t.Errorf("reason %q, want it to mention %q", got, reason)
	}
	if len(got) > 80 {
		t.Errorf("reason %q is not short", got)
	}
	if secret != "" && strings.Contains(string(r.Body), secret) {
		t.Errorf("body shows the database password: %s", r.Body)
	}
	if db, ok := v["database"].(map[string]any); ok && db["status"] != "unavailable" {
		t.Errorf("database status %v, want unavailable", db["status"])
	}
}

func requestLine(t *testing.T, s *service, id string) map[string]any {
	t.Helper()
	// The line is written after the response is sent, soon; the long
	// deadline is only against a line that never comes.
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, line := range s.Logs.lines(t, "request") {
			if line["request_id"] == id {
				return line
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no request log line with request_id %q", id)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func metricValue(t *testing.T, body, name string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no metric %s", name)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("metric %s: %v", name, err)
	}
	return v
}

func grep(body, substr string) string {
	var out []string
	for _, line := range strings.Split(body, "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// Headers beyond MaxHeaderBytes are refused before any handler runs.
func TestOversizedHeadersAreRefused(t *testing.T) {
	s := start(t, pgtest.URL(t), options{})
	req, err := http.NewRequest(http.MethodGet, s.URL+"/livez", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Padding", strings.Repeat("a", 2*server.MaxHeaderBytes))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status %d, want 431", resp.StatusCode)
	}
	if r := s.get(t, "/livez"); r.Status != http.StatusOK {
		t.Errorf("a normal request after it: status %d", r.Status)
	}
}
